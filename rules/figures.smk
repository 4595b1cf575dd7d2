# summary.csv / speedups.csv / energy.csv from every result, then every figure (PNG + PDF, in the report).


rule summary:
    input:
        summary_inputs,
    output:
        summary=f"{RESULTS}/summary.csv",
        speedups=f"{RESULTS}/speedups.csv",
        energy=f"{RESULTS}/energy.csv",
    log:
        f"{RESULTS}/logs/summary.log",
    conda:
        "../envs/plots.yaml"
    params:
        stats=lambda wc: config["stats"],
        energy=lambda wc: config["energy"],
    script:
        "../workflow/scripts/summary.py"


rule figures:
    """Every figure in one job: a job each cost more in its start and imports than its drawing."""
    input:
        summary=f"{RESULTS}/summary.csv",
        speedups=f"{RESULTS}/speedups.csv",
        energy=f"{RESULTS}/energy.csv",
    output:
        **figure_outputs(),
    log:
        f"{RESULTS}/logs/figures.log",
    conda:
        "../envs/plots.yaml"
    params:
        config=lambda wc: {k: config[k] for k in ("train", "figures", "stats")},
    script:
        "../workflow/scripts/figures.py"
