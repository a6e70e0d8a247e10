"""Celery tasks: fetch by id, call a service."""

from celery import shared_task

from leaderboards.services import leaderboard_result_compute, model_judgment_run_execute


@shared_task(acks_late=True)
def model_judgment_run_task(run_id: int) -> bool:
    """A second delivery finds the run claimed and does nothing; one redelivered after its worker died resumes it."""
    return model_judgment_run_execute(run_id=run_id)


@shared_task(acks_late=True)
def leaderboard_result_compute_task(result_id: int) -> bool:
    """A second delivery finds the request served and does nothing."""
    return leaderboard_result_compute(result_id=result_id)
