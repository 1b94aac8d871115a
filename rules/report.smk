# Metrics of every training -> AP tables (per seed, mean +- std) and the plots of the method
# report's figures 21 and 22. Figures and the summary go into `snakemake --report`.


report: "../docs/report/workflow.rst"


REPORT_PARAMS = load_source("workflow/report/params.py")


rule detect_report:
    input:
        metrics=expand(
            rules.detect_train.output.metrics,
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
        comparisons=report(
            "results/report/comparisons.csv",
            caption="../docs/report/comparisons.rst",
            category="Detection",
        ),
        comparisons_plot=report(
            "results/report/comparisons.png",
            caption="../docs/report/comparisons.rst",
            category="Detection",
        ),
    log:
        "results/logs/report.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=as_json(REPORT_PARAMS.tables_settings(config)),
        out=get_output_folder,
    shell:
        "python -m workflow.report.tables --settings {params.settings:q} --metrics {input.metrics}"
        " --out {params.out} > {log} 2>&1"


rule learning_curve:
    input:
        curves=expand(
            rules.detect_learning_curve.output.curve,
            arch=config["detect"]["archs"],
        ),
        metrics=expand(
            rules.detect_learning_curve.output.metrics,
            arch=config["detect"]["archs"],
        ),
        code=get_code("workflow.report.curves"),
    output:
        plot=report(
            "results/report/learning_curve.png",
            caption="../docs/report/learning_curve.rst",
            category="Detection",
        ),
    log:
        "results/logs/report/learning_curve.log",
    conda:
        "../envs/core.yaml"
    params:
        epochs=REPORT_PARAMS.curve_epochs(config),
    shell:
        "python -m workflow.report.curves --curves {input.curves} --metrics {input.metrics}"
        " --epochs {params.epochs}"
        " --out {output.plot} > {log} 2>&1"


rule synthetic_quality:
    input:
        **get_quality_cherry_picker(),
        sets=[get_synthetic_manifest(name) for name in get_synthetic_sets()],
        judges=get_judge_trainings()["metrics"],
        weights=get_judge_trainings()["weights"],
        tiles=rules.detect_tiles.output.manifest,
        bank=rules.mask_merge.output.manifest,
        code=get_code("workflow.report.quality"),
    output:
        table=report(
            "results/report/synthetic_quality.csv",
            caption="../docs/report/synthetic_quality.rst",
            category="Synthetic quality",
        ),
        images="results/report/synthetic_quality_images.csv",
        figure=report(
            "results/report/synthetic_quality.png",
            caption="../docs/report/synthetic_quality.rst",
            category="Synthetic quality",
        ),
        sheets=[
            report(
                path,
                caption="../docs/report/judged.rst",
                category="Synthetic quality",
            )
            for path in get_judged_sheets()
        ],
        seams=[
            report(
                path,
                caption="../docs/report/seam.rst",
                category="Synthetic quality",
            )
            for path in get_seam_sheets()
        ],
    log:
        "results/logs/report/synthetic_quality.log",
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=as_json(REPORT_PARAMS.quality_settings(config)),
        judges=get_judges(),
        picker=lambda wildcards, input: optional_flags(input),
        out=get_output_folder,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.report.quality --settings {params.settings:q} --sets {input.sets}"
        " --judges {params.judges} --detect-tiles {input.tiles} --bank {input.bank}"
        " {params.picker} --config-dir results/detect/ultralytics"
        " --out {params.out} > {log} 2>&1"
