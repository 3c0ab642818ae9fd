"""The resource-kind registry: every model type is read by exactly one place (its kind module, or, until it
moves, live.READERS), so provision never meets a type it cannot read and no type keeps two readers."""

from __future__ import annotations

from picops.config import load_settings
from picops.provision import kinds, live
from picops.stack.build import build_model


def test_every_model_type_has_exactly_one_reader() -> None:
    settings = load_settings(
        overrides={
            "bookings": {
                "authorizer": "jwt",
                "jwt_issuer": "https://idp.example.com/p",
                "jwt_audience": ["a"],
            }
        },
        use_files=False,
    )
    types = {type(r) for r in build_model(settings, "123456789012", "eu-west-1")}
    for model_type in types:
        owners = (model_type in kinds.KINDS) + (model_type in live.READERS)
        assert owners == 1, model_type.__name__


def test_each_kind_module_is_registered_under_its_own_model_type() -> None:
    for model_type, module in kinds.KINDS.items():
        assert module.MODEL is model_type
