# The paper's claims checked on this grid's results, with effect sizes and uncertainty.


rule claims:
    input:
        results=summary_inputs,
        # The Edge TPU compiler's records (op mapping per f), beside each Edge TPU run's result.
        compiled=lambda wc: [
            p
            for p in stages.stage_results(RESULTS, config, stages.BY_NAME["edgetpu_compile"])
            if os.path.exists(p) or not DERIVE_ONLY
        ],
        claims=config["stats"]["claims_file"],
    output:
        csv=f"{RESULTS}/claims.csv",
        md=f"{RESULTS}/claims.md",
        html=report(f"{RESULTS}/claims.html", caption="../report/claims.rst", category="Findings"),
        accuracy=f"{RESULTS}/accuracy.csv",
    log:
        f"{RESULTS}/logs/claims.log",
    conda:
        "../envs/plots.yaml"
    params:
        config=lambda wc: {k: config[k] for k in ("train", "figures", "stats", "devices", "infer", "data", "energy")},
    script:
        "../workflow/scripts/claims.py"
