"""The daemon answers every method of the contract, each with the handler typed for it."""

from __future__ import annotations

import inspect

from controller.contract.requests import METHODS
from controller.daemon.requests import TABLE, Requests


def test_every_method_of_the_contract_has_a_handler_and_no_other() -> None:
    assert set(TABLE) == set(METHODS)
    assert all(route.method is METHODS[name] for name, route in TABLE.items())


def test_each_handler_takes_its_methods_params_and_returns_its_result() -> None:
    for name, route in TABLE.items():
        hints = inspect.get_annotations(route.handler, eval_str=True)
        annotated = [v for k, v in hints.items() if k != "return" and v is not Requests]  # a method's self, or
        # the Requests a module-level handler takes first (the rollouts')
        assert annotated[0] is METHODS[name].params, name
        assert METHODS[name].result in (hints["return"], *getattr(hints["return"], "__args__", ())), name
