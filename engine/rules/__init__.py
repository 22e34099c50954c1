"""The routing rules: SPEC sections 4 and 7, written once.

Every part of the product that says who is alerted and why asks this package: decisions
(``engine/decide``, whose per-revision tables are built by calling it), the alert map,
``who``, ``diff`` and ``replay`` (``engine/audit``), and lint (``engine/check``).  Nothing
else decides any of the following; the test suite's reference evaluator is a separate,
plain reading of the SPEC that the whole product is proven against.

=====================================  ==========================================  =======
What                                   Where                                        SPEC
=====================================  ==========================================  =======
A rule listing a parent category also  :func:`accepted_categories`,                 7.1
fires for its sub-categories           :func:`subcategories`
Whether a rule fires, its ``matched``  :class:`Condition` (:func:`conditions`):     4.2, 7.1
and ``via_parent``                     ``matched``, ``reason``, ``scope``
Who an alert names, and how            :class:`Membership`, :class:`Via`            4.1, 4.2
A user's class restriction, and which  :func:`restriction_of`,                      7.2
of the incident's students they see    :func:`sees_students`
Inherited category permissions, the    :class:`Permissions`: ``granted``,           4.2, 4.3,
gate (every / any / no category),      ``gate``, ``alert_categories``,              7.1, 7.3
access                                 ``may_open``, ``access``
Warnings a recipient earns             :func:`recipient_warnings`                   4.1, 7.2, 7.3
Student groups known, and near misses  :class:`GroupNames`, :func:`group_key`       7.4
Enforcement                            :func:`rejection_code`                       4.4
=====================================  ==========================================  =======

The order a decision applies them in: chosen alerts (inactive users withheld); each fired
rule's users, withheld when inactive, then when the gate stops their user group
(``missing_permission``), then when restricted and seeing none of the incident's students
(``class_restriction``); access and warnings per recipient; unknown student groups;
enforcement.
"""

from alertpolicy.engine.rules.firing import (
    Condition,
    Matched,
    accepted_categories,
    conditions,
    subcategories,
)
from alertpolicy.engine.rules.groups import GroupNames, group_key
from alertpolicy.engine.rules.people import (
    Membership,
    Named,
    Via,
    restriction_of,
    sees_students,
)
from alertpolicy.engine.rules.permissions import (
    Missing,
    Permissions,
    RejectionCode,
    WarningCode,
    recipient_warnings,
    rejection_code,
)

__all__ = [
    "Condition",
    "GroupNames",
    "Matched",
    "Membership",
    "Missing",
    "Named",
    "Permissions",
    "RejectionCode",
    "Via",
    "WarningCode",
    "accepted_categories",
    "conditions",
    "group_key",
    "recipient_warnings",
    "rejection_code",
    "restriction_of",
    "sees_students",
    "subcategories",
]
