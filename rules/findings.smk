# The paper's claims checked on this grid's results, with effect sizes and uncertainty.


rule claims:
    input:
        results=summary_inputs,
        claims=config["stats"]["claims_file"],
    output:
        csv=f"{RESULTS}/claims.csv",
        md=report(f"{RESULTS}/claims.md", caption="../report/claims.rst", category="Findings"),
    log:
        f"{RESULTS}/logs/claims.log",
    conda:
        "../envs/plots.yaml"
    params:
        config=lambda wc: {k: config[k] for k in ("train", "figures", "stats", "devices")},
    script:
        "../workflow/scripts/claims.py"
