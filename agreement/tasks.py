"""Celery tasks: fetch by id, call a service."""

from celery import shared_task

from agreement.services import dashboard_report_compute


@shared_task(acks_late=True)
def dashboard_report_compute_task(report_id: int) -> bool:
    """A second delivery finds the request served and does nothing."""
    return dashboard_report_compute(report_id=report_id)
