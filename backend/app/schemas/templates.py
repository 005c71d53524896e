"""Job templates, their typed parameters and their launches, as the API takes and shows them."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.models.enums import ParameterType, Shell, TemplateLevel
from app.schemas.common import NO_NUL, refuse_null
from app.schemas.jobs import (
    Command,
    Environment,
    FailureThreshold,
    FailureThresholdOut,
    JobName,
    JobSpec,
    Reference,
    Retries,
    RetriesOut,
    Targets,
    WorkingDirectory,
)

MAX_PARAMETERS = 50
MAX_CHOICES = 100
MAX_VALUE_LENGTH = 4096

ParameterName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,63}$")]
TemplateDescription = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL)
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]
Choice = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00\r\n]*$")]
ParameterValue = StrictBool | StrictInt | str


class Parameter(BaseModel):
    """One typed parameter, filled in at launch. In the command or script, `{{ name }}` is
    replaced by the value: an integer or boolean as written, a choice as the template's author
    wrote it, a string quoted for the template's shell (so it needs shell sh, bash or
    powershell). Every parameter also reaches the command as the environment variable
    `ORCA_PARAM_<NAME>`; a `secret` parameter only that way (never in the command text, stored
    encrypted, never shown or audited)."""

    model_config = {"extra": "forbid"}

    name: ParameterName = Field(description="Lower-case letters, digits and _.")
    label: ShortText | None = Field(None, description="What a form calls it.")
    description: TemplateDescription | None = None
    type: ParameterType = ParameterType.string
    required: StrictBool = Field(
        True, description="A launch must give a value (or it has a default)."
    )
    default: ParameterValue | None = Field(None, description="Used when a launch gives none.")
    choices: list[Choice] | None = Field(
        None, max_length=MAX_CHOICES, description="type choice: the values allowed."
    )
    minimum: StrictInt | None = Field(None, description="type integer: the smallest allowed.")
    maximum: StrictInt | None = Field(None, description="type integer: the largest allowed.")
    min_length: StrictInt | None = Field(None, ge=0, le=MAX_VALUE_LENGTH)
    max_length: StrictInt | None = Field(None, ge=1, le=MAX_VALUE_LENGTH)
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        None, description="type string: a regular expression the whole value must match."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        kind = self.type
        only = {
            "choices": ParameterType.choice,
            "minimum": ParameterType.integer,
            "maximum": ParameterType.integer,
            "pattern": ParameterType.string,
        }
        for field, allowed in only.items():
            if getattr(self, field) is not None and kind != allowed:
                raise ValueError(f"{field} applies to {allowed.value} parameters only")
        texts = (ParameterType.string, ParameterType.secret)
        for field in ("min_length", "max_length"):
            if getattr(self, field) is not None and kind not in texts:
                raise ValueError(f"{field} applies to string and secret parameters only")
        if kind == ParameterType.choice:
            if not self.choices:
                raise ValueError("a choice parameter needs its choices")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError("choices must differ from one another")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is above maximum")
        if (
            self.min_length is not None
            and self.max_length is not None
            and self.min_length > self.max_length
        ):
            raise ValueError("min_length is above max_length")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        if kind == ParameterType.secret and self.default is not None:
            raise ValueError("a secret parameter cannot have a default (it would be stored plain)")
        if self.default is not None:
            problem = value_problem(self, self.default)
            if problem:
                raise ValueError(f"default: {problem}")
        return self


def coerce_value(parameter: Parameter, value: Any) -> ParameterValue:
    """`value` as the parameter's type, or ValueError saying what is wrong. Integers and
    booleans are also taken as text ("5", "true"), as forms and command lines send them."""
    kind = parameter.type
    if kind == ParameterType.integer:
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if parameter.minimum is not None and value < parameter.minimum:
            raise ValueError(f"must be at least {parameter.minimum}")
        if parameter.maximum is not None and value > parameter.maximum:
            raise ValueError(f"must be at most {parameter.maximum}")
        return value
    if kind == ParameterType.boolean:
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if not isinstance(value, str):
        raise ValueError("must be text")
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    if kind == ParameterType.choice:
        assert parameter.choices is not None
        if value not in parameter.choices:
            raise ValueError("must be one of " + ", ".join(parameter.choices))
        return value
    longest = parameter.max_length if parameter.max_length is not None else MAX_VALUE_LENGTH
    if len(value) > longest:
        raise ValueError(f"must be at most {longest} characters")
    if parameter.min_length is not None and len(value) < parameter.min_length:
        raise ValueError(f"must be at least {parameter.min_length} characters")
    if parameter.pattern is not None and re.fullmatch(parameter.pattern, value) is None:
        raise ValueError(f"must match {parameter.pattern}")
    return value


def value_problem(parameter: Parameter, value: Any) -> str | None:
    try:
        coerce_value(parameter, value)
    except ValueError as exc:
        return str(exc)
    return None


class TemplateAccess(BaseModel):
    model_config = {"extra": "forbid"}

    team: Reference = Field(description="Team id or name.")
    level: TemplateLevel = Field(description="launch, or edit (which includes launch).")


def _parameters_unique(parameters: list[Parameter]) -> list[Parameter]:
    names = [each.name for each in parameters]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError("parameter names must differ: " + ", ".join(repeated))
    return parameters


Parameters = Annotated[list[Parameter], AfterValidator(_parameters_unique)]


class TemplateCreate(JobSpec):
    name: JobName
    description: TemplateDescription | None = None
    parameters: Parameters = Field(default_factory=list, max_length=MAX_PARAMETERS)
    access: list[TemplateAccess] = Field(
        default_factory=list,
        max_length=100,
        description="Teams that may launch or edit it. Its author and admins always may.",
    )


class TemplateUpdate(BaseModel):
    """Only what is given changes. `environment` replaces the whole set when given."""

    model_config = {"extra": "forbid"}

    name: JobName | SkipJsonSchema[None] = None
    description: TemplateDescription | None = None
    command: Command | SkipJsonSchema[None] = None
    script: Command | SkipJsonSchema[None] = None
    shell: Shell | None = None
    targets: Targets | SkipJsonSchema[None] = None
    timeout_seconds: StrictInt | SkipJsonSchema[None] = Field(None, ge=1, le=86400)
    priority: StrictInt | SkipJsonSchema[None] = Field(None, ge=1, le=10)
    concurrency: StrictInt | None = Field(None, ge=1, le=100000)
    failure_threshold: FailureThreshold | None = None
    environment: Environment | SkipJsonSchema[None] = None
    retries: Retries | None = None
    working_directory: WorkingDirectory | None = None
    parameters: Annotated[Parameters, Field(max_length=MAX_PARAMETERS)] | SkipJsonSchema[None] = (
        None
    )
    access: Annotated[list[TemplateAccess], Field(max_length=100)] | SkipJsonSchema[None] = None

    @field_validator(
        "name",
        "command",
        "script",
        "targets",
        "timeout_seconds",
        "priority",
        "environment",
        "parameters",
        "access",
        mode="before",
    )
    @classmethod
    def _omit_rather_than_null(cls, value: object) -> object:
        return refuse_null(value)

    @model_validator(mode="after")
    def _valid(self) -> TemplateUpdate:
        if self.command is not None and self.script is not None:
            raise ValueError("give at most one of command and script")
        return self


class TemplateLaunch(BaseModel):
    model_config = {"extra": "forbid"}

    parameters: dict[str, ParameterValue] = Field(
        default_factory=dict,
        max_length=MAX_PARAMETERS,
        description="A value for each parameter (those with a default may be left out).",
    )
    name: JobName | None = Field(None, description="The job's name; default: the template's.")


class TemplateAccessOut(BaseModel):
    team_id: uuid.UUID
    team_name: str
    level: TemplateLevel


class TemplateOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    command: str | None
    script: str | None
    shell: Shell | None
    targets: dict[str, object]
    parameters: list[Parameter]
    environment_keys: list[str]
    working_directory: str | None
    timeout_seconds: int
    priority: int
    concurrency: int | None
    failure_threshold: FailureThresholdOut | None
    retries: RetriesOut | None
    access: list[TemplateAccessOut]
    created_by_id: uuid.UUID | None
    created_by_username: str | None
    version: int = Field(description="Bumped by every edit; jobs record the one they ran.")
    created_at: datetime
    updated_at: datetime
    can_edit: bool = Field(description="Whether the caller may change or delete it.")
    can_launch: bool = Field(
        description="Whether the caller may launch it (a launch also needs `execute` on every "
        "system its targets match then)."
    )
