"""Pre-flight: what is checked before any job runs and what this machine can do.

``checks`` (config cross-checks, what each job would ask SLURM for), ``locks`` (the results-folder and
checkpoint locks), ``support`` (which precisions a CPU or GPU runs natively, converted or emulated),
and the doctor (``python -m mpbench doctor``): ``probe`` (a framework imported in a child process
reports what it sees), ``facts`` (everything the doctor reads off the machine), ``findings`` (which
cells of a config will be unavailable or emulated, with fixes), ``report`` (the text), ``doctor``
(the command).
"""
