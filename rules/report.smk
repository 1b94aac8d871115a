# Metrics of every training -> AP tables (per seed, mean +- std) and the plots of the method
# report's figures 21 and 22. Figures and the summary go into `snakemake --report`.


report: "../docs/report/workflow.rst"


rule detect_report:
    input:
        metrics=expand(
            "results/detect/{arch}/{experiment}/seed{seed}/metrics.json",
            arch=config["detect"]["archs"],
            experiment=config["experiments"]["runs"],
            seed=config["detect"]["seeds"],
        ),
        code=get_code("workflow.report.tables"),
    output:
        ap=report(
            "results/report/ap.csv",
            caption="../docs/report/ap.rst",
            category="Detection",
        ),
        summary=report(
            "results/report/summary.csv",
            caption="../docs/report/summary.rst",
            category="Detection",
        ),
        bars=report(
            "results/report/ap_bars.png",
            caption="../docs/report/ap_bars.rst",
            category="Detection",
        ),
        sweeps=report(
            "results/report/sweeps.png",
            caption="../docs/report/sweeps.rst",
            category="Detection",
        ),
    log:
        "results/logs/report.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=get_report_settings(),
    shell:
        "python -m workflow.report.tables --settings {params.settings:q} --metrics {input.metrics}"
        " --out results/report > {log} 2>&1"
