"""Engine options checked when a config loads: ``model.engine`` names a registered engine (or ``auto``) and
``model.options`` (with ``model.device``) must fit that engine's own :class:`~edge.engines.base.EngineConfig`.

``engine: auto`` picks the engine on the box, later; its options must fit at least one registered engine as a
whole, each option with a value that engine accepts (a misspelt option, a bad value or options of two engines
are errors here). The engine auto then picks validates them once more when the model loads, so options of
another engine are one clear error there, never ignored (docs/engines.md).

Errors are pydantic :class:`~pydantic.ValidationError` with locations relative to the model section
(``("options", "hint")``, ``("device",)``), so a config loader reports them as ``model.options.hint = ...``.
Only the engine modules are imported (cheap: their runtime libraries load when a model does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from edge.engines.base import EngineConfig, EngineError, engine_class, engine_names

AUTO = "auto"
#: fields of the model section that are not engine options (``device`` has its own field, ``model.device``)
OWN_FIELDS = ("device",)


def check_engine_name(name: str) -> str:
    """``name`` when it is ``auto`` or a registered engine; ValueError naming the choices otherwise."""
    if name != AUTO and name not in engine_names():
        raise ValueError(f"unknown engine {name!r} (choose from: {', '.join([AUTO, *engine_names()])})")
    return name


def engine_configs() -> dict[str, type[EngineConfig]]:
    """Each registered engine that can be imported here, with its config class."""
    configs = {}
    for name in engine_names():
        try:
            configs[name] = engine_class(name).Config
        except EngineError:
            continue  # a registered plugin that is not installed on this box
    return configs


def check_options(engine: str, options: Mapping[str, Any], device: str | None = None) -> EngineConfig | None:
    """Validate ``options`` (and ``device`` when given) for ``engine``; the engine's config, None for ``auto``.

    Raises :class:`ValidationError` located at ``("options", key)`` or ``("device",)``."""
    errors = [_error(("options", key), value, f"set model.{key}, not model.options.{key}")
              for key, value in options.items() if key in OWN_FIELDS]
    if errors:
        raise _validation_error(errors)
    values = {k: v for k, v in options.items() if v is not None}  # as create() takes them: None is the default
    values.update({"device": device} if device is not None else {})
    if engine == AUTO and not values:
        return None
    if engine != AUTO:
        try:
            config = engine_class(engine).Config
        except EngineError as exc:
            raise _validation_error([_error(("engine",), engine, str(exc))]) from None
        try:
            return config.model_validate(values)
        except ValidationError as exc:
            raise _validation_error([_relocated(err, f"engine {engine}", config) for err in exc.errors()]) from None
    configs = engine_configs()
    failures: dict[str, ValidationError] = {}
    for name, config in configs.items():
        try:
            config.model_validate(values)
            return None  # fits one engine as a whole
        except ValidationError as exc:
            failures[name] = exc
    raise _validation_error(_auto_errors(values, configs, failures))


def _auto_errors(values: dict[str, Any], configs: dict[str, type[EngineConfig]],
                 failures: dict[str, ValidationError]) -> list[InitErrorDetails]:
    """Why ``values`` fit no single engine: per option, no engine has it or none takes its value; else a mix."""
    errors: list[InitErrorDetails] = []
    owners: dict[str, list[str]] = {}
    for key, value in values.items():
        owners[key] = [name for name, config in configs.items() if key in config.model_fields]
        if not owners[key]:
            errors.append(_error(_where(key), value, f"no engine has this option (engine options: "
                                 f"{', '.join(_fields(*configs.values()))})"))
            continue
        refusals = [(name, err) for name in owners[key] for err in failures[name].errors() if err["loc"][:1] == (key,)]
        if len({name for name, _ in refusals}) == len(owners[key]):  # every engine with this option refuses the value
            name, err = refusals[0]
            who = "every engine" if len(owners[key]) == len(configs) > 1 else f"engine {name}"
            errors.append(_relocated(err, who, configs[name]))
    if not errors:
        mix = "; ".join(f"{key} ({', '.join(names)})" for key, names in owners.items())
        errors.append(_error(("options",), values, f"these options fit no single engine: {mix}; engine auto runs "
                             "one engine, so name it in model.engine"))
    return errors


def _fields(*configs: type[EngineConfig]) -> list[str]:
    return sorted({f for config in configs for f in config.model_fields} - set(OWN_FIELDS))


def _where(key: str | int) -> tuple[str | int, ...]:
    return (key,) if key in OWN_FIELDS else ("options", key)


def _relocated(err: Any, who: str, config: type[EngineConfig]) -> InitErrorDetails:
    """A pydantic error of an engine config, located in the model section and naming ``who`` (the engine)."""
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        message = f"{who} has no such option (its options: {', '.join(_fields(config))})"
    else:
        message = f"{err['msg']} ({who})"
    return _error(_where(loc[0]) + loc[1:] if loc else ("options",), err.get("input"), message)


def _error(loc: tuple[str | int, ...], value: Any, message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("engine_option", message), loc=loc, input=value)


def _validation_error(errors: list[InitErrorDetails]) -> ValidationError:
    return ValidationError.from_exception_data("engine options", errors)
