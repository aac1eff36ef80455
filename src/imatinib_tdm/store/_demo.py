"""Demo patients from the demo cases packaged with ``imatinib_tdm`` (illustrative, not real).

Each demo case ``demo-NNN`` becomes a patient with MRN ``DEMO-NNN``, family name ``Demo`` and
given name ``Case NNN`` (so nobody mistakes it for a real person), with one draft episode holding
the case. Seeding again adds only the demo cases that are missing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from imatinib_tdm.case import demo_case_names, load_demo_case
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor
from imatinib_tdm.store._episodes import create_episode
from imatinib_tdm.store._models import Patient, User
from imatinib_tdm.store._patients import create_patient
from imatinib_tdm.store._roles import can_edit

__all__ = ["DEMO_FAMILY_NAME", "DEMO_MRN_PREFIX", "demo_mrn", "seed_demo"]

DEMO_MRN_PREFIX = "DEMO-"
DEMO_FAMILY_NAME = "Demo"


def demo_mrn(case_name: str) -> str:
    """The MRN of the demo patient made from demo case ``case_name`` (``"demo-001"`` →
    ``"DEMO-001"``)."""
    return DEMO_MRN_PREFIX + case_name.upper().removeprefix("DEMO-")


def seed_demo(session: Session, *, actor: User) -> list[Patient]:
    """Create the demo patients that do not exist yet; return every demo patient.

    Parameters
    ----------
    actor : User
        Clinician, pharmacologist or admin.

    Returns
    -------
    list of Patient
        One per packaged demo case, in the order of :func:`imatinib_tdm.case.demo_case_names`.
    """
    check_actor(actor, allowed=can_edit(actor.role), action="create demo patients")
    patients: list[Patient] = []
    created = 0
    for name in demo_case_names():
        mrn = demo_mrn(name)
        patient = session.scalar(select(Patient).where(Patient.mrn == mrn))
        if patient is None:
            case = load_demo_case(name)
            patient = create_patient(
                session,
                actor=actor,
                mrn=mrn,
                family_name=DEMO_FAMILY_NAME,
                given_name=f"Case {mrn.removeprefix(DEMO_MRN_PREFIX)}",
                birth_date=None,  # the demo cases give an age, not a birth date
                sex=case.patient.sex,
                indication=case.patient.indication,
            )
            create_episode(session, patient.id, actor=actor, case=case, label=f"Demo case {name}")
            created += 1
        patients.append(patient)
    if created:
        record_event(
            session,
            actor=actor,
            action=AuditAction.SEED_DEMO,
            entity_type="patient",
            entity_id=None,
            detail={"n_created": created, "n_demo_patients": len(patients)},
        )
    return patients
