"""Forms of the server-rendered chat pages. They only validate shapes; the rules live in services."""

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import User
from chat.errors import ChatError


def apply_chat_error(form: forms.Form, error: ChatError) -> None:
    """Show a service's refusal on the field it names, or on the whole form."""
    form.add_error(error.field if error.field in form.fields else None, error.detail)


class MessageForm(forms.Form):
    """The send box without JavaScript; with it, messages go over the chat socket instead."""

    content = forms.CharField(strip=False, max_length=settings.MESSAGE_MAX_LENGTH * 4, widget=forms.Textarea)
    client_id = forms.CharField(max_length=64, required=False)


class DirectForm(forms.Form):
    username = forms.CharField(
        max_length=254,
        label="Username",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "placeholder": "bob"}),
    )

    def clean_username(self) -> User:
        username = self.cleaned_data["username"].strip().lstrip("@")
        user = User.objects.filter(username__iexact=username, is_active=True).first()
        if user is None:
            raise ValidationError("No one is called %(name)s.", code="unknown", params={"name": username})
        return user


class GroupForm(forms.Form):
    title = forms.CharField(max_length=120, widget=forms.TextInput(attrs={"placeholder": "Weekend plans"}))
    usernames = forms.CharField(
        max_length=5000,
        required=False,
        label="Members",
        help_text="Usernames, separated by commas or spaces.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "placeholder": "bob, carol"}),
    )

    def clean_usernames(self) -> list[str]:
        return [name.lstrip("@") for name in re.split(r"[\s,]+", self.cleaned_data["usernames"]) if name.lstrip("@")]


class RenameForm(forms.Form):
    title = forms.CharField(max_length=120, label="Group name")


class AddMemberForm(forms.Form):
    username = forms.CharField(
        max_length=254, widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"})
    )
