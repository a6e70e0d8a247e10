from django import forms


class PairUploadForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    pair_id = forms.CharField(required=False, max_length=200, help_text="Optional; derived from the files if empty.")
    video_a = forms.FileField(widget=forms.ClearableFileInput(attrs={"accept": "video/*"}))
    source_a = forms.CharField(required=False, max_length=200, label="Model that made video A")
    video_b = forms.FileField(widget=forms.ClearableFileInput(attrs={"accept": "video/*"}))
    source_b = forms.CharField(required=False, max_length=200, label="Model that made video B")
