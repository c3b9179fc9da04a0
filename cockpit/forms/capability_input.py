"""A capability's pydantic input model as a Django form: real fields, not typed JSON.

``CapabilityInputForm`` reads the model's fields: a ``Literal`` becomes a select, an ``int``
a number, a ``str`` a text input (a textarea past 200 characters), a ``list[str]`` one value
per line. Fields that name something the studio has get what it has: ``connector`` a select
of the studio's connectors of the capability's kind, ``device``/``device_id`` a select of
that connector's devices, ``batch_id``/``order_id``/``note_id`` a text input with a
``<datalist>`` of the mirror's ids (refreshed by an htmx lookup as staff type). The form
only shapes input: the service validates it (schema, then ``governance.targets``) and its
field errors are put back on these fields.
"""

from __future__ import annotations

import json
import types
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, MaxLen
from django import forms
from pydantic import StringConstraints
from pydantic.fields import FieldInfo

from governance.capabilities import CapabilitySpec
from governance.selectors.targets import (
    BATCHES,
    CONNECTOR_KINDS,
    ORDER_COLLECTIONS,
    Choice,
    connectors_devices,
    executed_note_ids,
    mirror_lookup,
    studio_connectors,
)

PREFIX = "in"
LONG_TEXT = 200
# Field names whose value is looked up in what the studio has: name -> lookup kind.
LOOKUPS = {"batch_id": "batch", "order_id": "order", "note_id": "note"}
LABELS = {
    "batch_id": "Batch",
    "order_id": "Order",
    "order_collection": "Order collection",
    "note_id": "Ops note",
    "flag_id": "Reconciliation flag number",
    "device_id": "Device",
    "device": "Vacuum",
    "reverts": "Adjustment withdrawn",
    "evidence": "Stripe evidence",
}
HELP = {
    "batch_id": "A batch in the mirror: start typing its id.",
    "order_id": "An order in the mirror: start typing its id.",
    "note_id": "A note written by an executed ops-note proposal of this studio.",
    "evidence": "Stripe object ids, one per line (pi_…, ch_…, re_…).",
    "reverts": "Only for a withdrawal: the action id of the executed adjustment.",
}


def lookup_choices(studio_id: int, kind: str, query: str = "") -> list[Choice]:
    """What a lookup field offers: mirror batches or orders, or executed notes."""
    if kind == "batch":
        return mirror_lookup(studio_id, (BATCHES,), query)
    if kind == "order":
        return mirror_lookup(studio_id, ORDER_COLLECTIONS, query)
    if kind == "note":
        return executed_note_ids(studio_id, query)
    return []


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _constraint(info: FieldInfo, kind: type) -> Any:
    return next((m for m in info.metadata if isinstance(m, kind)), None)


class MultiValueText(forms.CharField):
    """A ``list[str]`` field: one value per line (or comma-separated)."""

    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false"})

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value


class DeviceChoiceField(forms.ChoiceField):
    also_valid: set[str] = set()

    def valid_value(self, value: Any) -> bool:
        return str(value) in self.also_valid or super().valid_value(value)


class CapabilityInputForm(forms.Form):
    """The input of ``spec`` as form fields, with the studio's connectors, devices and ids."""

    def __init__(
        self, spec: CapabilitySpec, studio_id: int, data: Any = None, initial: Any = None
    ) -> None:
        super().__init__(data, initial=initial or {}, prefix=PREFIX)
        self.spec = spec
        self.studio_id = studio_id
        self.lookups: dict[str, str] = {}
        self.datalists: dict[str, list[Choice]] = {}
        for name, info in spec.input_model.model_fields.items():
            self.fields[name] = self._field(name, info)

    # building ---------------------------------------------------------------------------

    def _value(self, name: str) -> Any:
        if self.is_bound:
            return self.data.get(self.add_prefix(name), "")
        return self.initial.get(name, "")

    def _field(self, name: str, info: FieldInfo) -> forms.Field:
        annotation, optional = _unwrap_optional(info.annotation)
        required = info.is_required() and not optional
        options: dict[str, Any] = {
            "label": LABELS.get(name, name.replace("_", " ").capitalize()),
            "required": required,
            "help_text": HELP.get(name, ""),
        }
        if name == "connector" and self.spec.id in CONNECTOR_KINDS:
            return self._connector_field(options)
        if name in ("device", "device_id") and self.spec.id in CONNECTOR_KINDS:
            return self._device_field(options)
        if get_origin(annotation) is Literal:
            values = get_args(annotation)
            choices = [(v, str(v).replace("_", " ")) for v in values]
            if not required:
                options["initial"] = info.default
            return forms.ChoiceField(choices=[("", "Choose…"), *choices], **options)
        if annotation is int:
            ge = _constraint(info, Ge)
            return forms.IntegerField(min_value=ge.ge if ge else None, **options)
        if get_origin(annotation) is list:
            limit = _constraint(info, MaxLen)
            if limit:
                options["help_text"] += f" At most {limit.max_length}."
            return MultiValueText(**options)
        text = _constraint(info, StringConstraints)
        max_length = text.max_length if text else None
        min_length = text.min_length if text else None
        if max_length and max_length > LONG_TEXT:
            widget: forms.Widget = forms.Textarea(attrs={"rows": 3})
            options["help_text"] = options["help_text"] or (
                f"{min_length or 1} to {max_length} characters."
            )
        else:
            widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
        if name in LOOKUPS:
            kind = LOOKUPS[name]
            self.lookups[name] = kind
            self.datalists[name] = lookup_choices(self.studio_id, kind, str(self._value(name)))
            widget.attrs["list"] = f"{name}-options"
        return forms.CharField(
            max_length=max_length, min_length=min_length, widget=widget, **options
        )

    def _connector_field(self, options: dict[str, Any]) -> forms.Field:
        kind = CONNECTOR_KINDS[self.spec.id]
        self.connectors = studio_connectors(self.studio_id, kind)
        choices = [
            (c.name, f"{c.name}{'' if c.enabled else ' (disabled)'}") for c in self.connectors
        ]
        options["help_text"] = (
            f"This studio's {kind.capitalize()} connectors."
            if choices
            else f"This studio has no {kind.capitalize()} connector: an admin adds one on Connectors."
        )
        if len(choices) == 1:
            options["initial"] = choices[0][0]
        return forms.ChoiceField(choices=[("", "Choose a connector"), *choices], **options)

    def _device_field(self, options: dict[str, Any]) -> forms.Field:
        """The chosen connector's devices; before a choice, every connector's, grouped."""
        connectors = getattr(self, "connectors", None)
        if connectors is None:
            connectors = studio_connectors(self.studio_id, CONNECTOR_KINDS[self.spec.id])
        chosen = str(self._value("connector") or "")
        if not chosen and len(connectors) == 1:
            chosen = connectors[0].name
        picked = [c for c in connectors if c.name == chosen] or connectors
        every = connectors_devices(connectors)
        groups: list[Any] = []
        for config in picked:
            devices = [(d.value, d.label) for d in every[config.pk]]
            if len(picked) == 1:
                groups.extend(devices)
            elif devices:
                groups.append((config.name, devices))
        options["help_text"] = (
            "Devices on the connector's command allowlist."
            if self.spec.id.startswith("hubitat")
            else "The connector's configured vacuums."
        )
        if not groups:
            options["help_text"] = "No device can be chosen: the connector names none."
        field = DeviceChoiceField(choices=[("", "Choose a device"), *groups], **options)
        # A device of another of the studio's connectors passes the form, so the service's
        # target check says which connector lacks it (clearer than "not a valid choice").
        field.also_valid = {d.value for choices in every.values() for d in choices}
        return field

    def rows(self) -> list[dict[str, Any]]:
        """The fields as the template draws them: the bound field, its lookup kind and the
        lookup's current options (for the ``<datalist>``)."""
        return [
            {
                "field": self[name],
                "lookup": self.lookups.get(name, ""),
                "options": self.datalists.get(name, []),
                "reloads": name == "connector" and self.spec.id in CONNECTOR_KINDS,
            }
            for name in self.fields
        ]

    # reading ----------------------------------------------------------------------------

    def proposed_input(self) -> dict[str, Any]:
        """The input as the service will receive it: what was filled in, typed where the
        field is typed; empty optional fields are left out so the model's defaults apply.
        Used for the preview too, so it does not require the form to be valid."""
        values: dict[str, Any] = {}
        for name, field in self.fields.items():
            raw = self._value(name) if self.is_bound else self.initial.get(name, field.initial)
            if isinstance(field, MultiValueText):
                value: Any = field.to_python(raw) if not isinstance(raw, list) else raw
                if not value and not field.required:
                    continue
            elif isinstance(field, forms.IntegerField):
                text = str(raw if raw is not None else "").strip()
                if not text:
                    continue
                value = int(text) if text.lstrip("-").isdigit() else text
            else:
                value = "" if raw is None else str(raw).strip()
                if not value and not field.required:
                    continue
            values[name] = value
        return values

    def preview_json(self) -> str:
        return json.dumps(self.proposed_input(), indent=2, sort_keys=True)

    def place_errors(self, field_errors: dict[str, list[str]]) -> list[str]:
        """Put the service's field errors on the fields; return those no field takes."""
        left: list[str] = []
        for name, problems in field_errors.items():
            field = name.split(".")[0]
            if field in self.fields:
                for problem in problems:
                    self.add_error(field, problem)
            else:
                left.extend(f"{name}: {p}" if name != "input" else p for p in problems)
        return left
