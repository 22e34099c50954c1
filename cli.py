"""The ``alertpolicy`` command: check, test, evaluate, explain, diff and serve a policy.

This module only gathers the subcommands (``commands/``) under one group; they parse
options and render results, and the work happens in ``engine/``. Exit codes: 0 ok,
1 findings (errors, failed tests, changes with ``--exit-code``), 2 usage or input error.
"""

from __future__ import annotations

import click

from alertpolicy.commands.audit import diff, replay, report, who
from alertpolicy.commands.evaluate import evaluate
from alertpolicy.commands.policy import check, fmt, run_tests, schema
from alertpolicy.commands.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="alertpolicy")
def main() -> None:
    """Safeguarding-alert routing for schools, kept as policy-as-code.

    The policy lives in YAML files under a directory (default: policy/).
    """


for command in (check, diff, evaluate, fmt, replay, report, schema, serve, run_tests, who):
    main.add_command(command)


if __name__ == "__main__":
    main()
