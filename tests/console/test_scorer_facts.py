"""The patient page states the accuracy of the scorer behind the newest stress score, from the
facts the composition hands over (the bundled models' sidecars), and says so when it has none;
on SQLite and PostgreSQL, through Starlette's TestClient behind the real sign-in."""

from __future__ import annotations

import html
import json

import msgspec
import pytest
from starlette.testclient import TestClient

from console.scorer_facts import Figure, ScorerFacts
from console.web import create_app
from dsp.stress import StressModel
from stream.events import AnyEvent
from tests.console.events import PATIENT, T0, S, score, story
from tests.console.server import add_people
from tests.console.test_gateway_health_console import stored
from tests.console.test_password_change import log_in
from vagus.config import StressModelSettings
from vagus.scorer_facts import bundled_scorer_facts
from vagus.scoring import BUNDLED_METHODS, NO_HEART_METHOD, bundled_model, scorer_method

FACTS = ScorerFacts(
    method=NO_HEART_METHOD,
    reads="skin conductance and wrist motion",
    training_data="WESAD's 12 subjects, Empatica E4 on the wrist",
    subjects=12,
    nested_accuracy=Figure(0.8805, (0.8161, 0.9412)),
    nested_macro_f1=Figure(0.8678, (0.7932, 0.9367)),
    worst_subject_accuracy=0.7,
    worst_subject_windows=30,
    cross_dataset_accuracy=None,
    cross_dataset="Stress-Predict (2 labelled wearers, 0 windows, replayed through the gateway)",
    stressed_calibration_macro_f1=0.533,
)


def _about(database: str, events: list[AnyEvent]) -> str:
    add_people(database)
    stored(database, events)
    web = create_app(
        database,
        clock_ns=lambda: T0 + 400 * S,
        secure_cookies=False,
        scorer_facts={NO_HEART_METHOD: FACTS},
    )
    client = TestClient(web, follow_redirects=False)
    assert log_in(client, "admin") == 303
    page = html.unescape(client.get(f"/patients/{PATIENT}").text)
    return page[page.index('<section id="stress-model">') :].split("</section>", 1)[0]


def test_the_newest_scorers_accuracy_is_stated_with_its_interval(database: str) -> None:
    newest = msgspec.structs.replace(score(41, 0.4), method=NO_HEART_METHOD)
    about = _about(database, [*story(), newest])
    assert NO_HEART_METHOD in about and "reads skin conductance and wrist motion" in about
    assert "right in 88 % of windows (95 % interval over subjects 82 to 94 %)" in about
    assert "macro-F1 0.87" in about and "worst subject, 70 % of 30 windows" in about
    assert "never tuned on: nothing scored" in about  # no figure is made up for a gap
    assert "with stress in a quarter of it, macro-F1 fell to 0.53" in about
    assert "not a diagnosis" in about and "not a medical device" in about


def test_a_scorer_without_facts_is_said_to_have_none(database: str) -> None:
    about = _about(database, story())  # the story's scores name the method "model"
    assert "<code>model</code>" in about and "no stated accuracy for that scorer" in about
    assert "%" not in about.split("not a diagnosis")[0]  # no other scorer's figures


@pytest.mark.parametrize("inputs", ["with_heart", "without_heart"])
@pytest.mark.parametrize("baseline", ["mean_sd", "median_mad"])
def test_every_bundled_scorer_has_its_own_sidecars_figures(inputs: str, baseline: str) -> None:
    settings = StressModelSettings(inputs=inputs, baseline=baseline)  # type: ignore[arg-type]
    path = bundled_model(settings)
    method = scorer_method(StressModel(path))  # what the scores of this model will name
    assert BUNDLED_METHODS[method] == path
    facts = bundled_scorer_facts()[method]
    validation = json.loads(path.with_suffix(".json").read_text())["validation"]
    assert facts.nested_accuracy.value == validation["accuracy"]
    assert list(facts.nested_accuracy.interval or ()) == validation["ci95"]["accuracy"]
    assert facts.worst_subject_windows == validation["worst_subject_windows"]
    stressed = validation["stressor_in_calibration"]["macro_f1"]
    assert facts.stressed_calibration_macro_f1 == stressed
    assert ("heart rate" in facts.reads) is (inputs == "with_heart")
    assert facts.reads.endswith("wrist motion")
