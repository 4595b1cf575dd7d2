# summary.csv / speedups.csv / energy.csv from every result, then one rule per figure (PNG + PDF, in the report).


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


rule figure:
    input:
        summary=f"{RESULTS}/summary.csv",
        speedups=f"{RESULTS}/speedups.csv",
        energy=f"{RESULTS}/energy.csv",
    output:
        png=report(
            f"{RESULTS}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        pdf=f"{RESULTS}/figures/{{figure}}.pdf",
    log:
        f"{RESULTS}/logs/figures/{{figure}}.log",
    wildcard_constraints:
        figure="|".join(FIGURE_NAMES),
    conda:
        "../envs/plots.yaml"
    params:
        config=lambda wc: {k: config[k] for k in ("train", "figures", "stats")},
    script:
        "../workflow/scripts/figure.py"


rule figures:
    """Target: every figure (with figures.only_existing, from whatever results exist)."""
    input:
        figure_files(),
