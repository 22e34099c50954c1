"""Deciding an incident with the revision a coordinator serves, never answering short.

The incident is parsed and decided under a lease of the serving revision.  When the
policy engine fails inside the decision, the revision is handed to its repair
(:mod:`.repair`) and the request is answered :class:`NotReady`: a 503, never a decision
with fewer recipients.
"""

from __future__ import annotations

from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.errors import EngineError, NotReady
from alertpolicy.engine.model import Decision, Incident
from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.repair import EngineRepair


def decide_serving(
    coordinator: Coordinator, repair: EngineRepair, raw: object
) -> tuple[Decision, Incident]:
    """The decision for the incident ``raw``, and the incident, by the revision serving.

    Raises :class:`IncidentError` for an invalid incident and :class:`NotReady` when no
    revision can decide; when the engine fails, the revision is handed to ``repair``.
    """
    with coordinator.lease() as revision:
        incident = parse_incident(raw, revision.policy)
        try:
            decision = evaluate_incident(revision.compiled, incident)
        except EngineError as error:
            repair.engine_failed(revision, error)
            raise NotReady(
                f"the policy engine{repair.whose} failed on this incident and is being "
                "rebuilt; submit it again shortly"
            ) from error
    return decision, incident


def decision_answer(decision: Decision) -> tuple[bytes, str, str]:
    """What the service answers with for ``decision``: its JSON text (written directly,
    byte for byte the JSON of :meth:`Decision.to_json`), the incident's id, and the
    rejection's code (empty when accepted)."""
    code = decision.rejection.code if decision.rejection else ""
    return decision.to_json_text().encode("utf-8"), decision.incident, code
