from __future__ import annotations

import textwrap

import pytest

from engine import definition
from engine.errors import InvalidParams


def parse(text: str) -> definition.Workflow:
    return definition.parse(textwrap.dedent(text), "wf.yaml")


def test_parse_reads_every_field() -> None:
    wf = parse(
        """
        name: full
        description: all of it
        params: {target: /tmp, notify: true, n: 2}
        env: {TZ: UTC, N: 3}
        secrets: [TOKEN]
        schedule: {cron: "0 2 * * *", timezone: Europe/Paris, catchup: all}
        timeout: 1h30m
        concurrency: 2
        steps:
          - id: dump
            run: echo ${{ params.target }}
            timeout: 10m
            retry: {attempts: 3, delay: 5s, backoff: 2, max_delay: 8s}
            env: {A: "1"}
            continue_on_error: true
          - id: size
            python: os.path:getsize
            with: {path: "${{ params.target }}"}
          - id: tell
            if: ${{ params.notify }}
            http: {method: post, url: "http://127.0.0.1:9/x", json: {bytes: "${{ steps.size.output }}"}, expect: [200, 204]}
          - id: settle
            needs: []
            sleep: 500ms
        """
    )
    assert wf.timeout == 5400
    assert wf.env == {"TZ": "UTC", "N": "3"}
    assert wf.schedule == definition.Schedule(
        cron="0 2 * * *", timezone="Europe/Paris", catchup="all"
    )
    dump = wf.step("dump")
    assert (dump.kind, dump.timeout, dump.continue_on_error) == ("run", 600, True)
    assert [dump.retry.delay_before(a) for a in (2, 3, 4)] == [5, 8, 8]
    tell = wf.step("tell")
    assert tell.http is not None and tell.http.method == "POST" and tell.http.expect == [200, 204]
    assert wf.step("settle").sleep == 0.5


def test_merge_params_refuses_unknown_and_non_json() -> None:
    wf = parse("name: a\nparams: {n: 1}\nsteps: [{id: x, log: y}]\n")
    assert wf.merge_params({"n": 5}) == {"n": 5}
    with pytest.raises(
        InvalidParams, match=r"^workflow 'a' has no parameter 'm' \(its parameters: n\)$"
    ):
        wf.merge_params({"m": 1})
    with pytest.raises(InvalidParams, match="not JSON"):
        wf.merge_params({"n": object()})


def test_a_list_or_mapping_param_read_from_yaml_takes_json_text() -> None:
    """A default read from a file is the loader's own dict (it knows its lines): its own
    JSON, typed back as a form shows it, is accepted, and a wrong kind named plainly."""
    wf = definition.parse(
        "name: w\nparams:\n  target: {region: eu, size: 3}\n  hosts: [a, b]\n"
        "steps:\n  - {id: a, log: x}\n",
        "w.yaml",
    )
    given = wf.coerce_params({"target": '{"region": "us", "size": 5}', "hosts": '["c"]'})
    assert given == {"target": {"region": "us", "size": 5}, "hosts": ["c"]}
    with pytest.raises(InvalidParams, match="expects a JSON object"):
        wf.coerce_params({"target": "[1]"})
    with pytest.raises(InvalidParams, match="expects a JSON list"):
        wf.coerce_params({"hosts": "{}"})
