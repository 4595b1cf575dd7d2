"""``python -m snakemake`` for the tests against the local cluster, with the SLURM plugin's polls at most
``--seconds-between-status-checks`` apart.

The plugin (snakemake-executor-plugin-slurm 2.8) adds 10 s to its wait after every status poll that finds
no job finished, up to 180 s: on a real cluster, where jobs run for hours, that spares the scheduler. Here
jobs take seconds, and a job finishing just after a poll waited 10-30 s for the next one: most of the
SLURM demo test's three minutes. Only the wait between polls changes; what is submitted, how and what the
jobs compute are the users' (``--profile slurm``).
"""
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor

_wait = getattr(RemoteExecutor, "next_seconds_between_status_checks", None)

if isinstance(_wait, property) and _wait.fset is not None:   # else (another interface version): the plugin's own waits
    @_wait.setter
    def _capped(executor, seconds):
        ceiling = executor.workflow.remote_execution_settings.seconds_between_status_checks
        _wait.fset(executor, None if seconds is None else min(seconds, ceiling))

    RemoteExecutor.next_seconds_between_status_checks = _capped

if __name__ == "__main__":
    from snakemake.cli import main
    main()
