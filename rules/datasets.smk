# Detection tiles (+ synthetic sets) -> one YOLO dataset per experiment of experiments.runs:
# image lists and a data.yaml with absolute paths; images are not copied.


wildcard_constraints:
    experiment="|".join(config["experiments"]["runs"]),


rule dataset:
    input:
        tiles="results/tiles/detect/manifest.csv",
        synthetic=lambda wildcards: get_dataset_synthetic(wildcards.experiment),
        code=get_code("workflow.datasets.build"),
    output:
        data="results/datasets/{experiment}/data.yaml",
        lists=expand(
            "results/datasets/{{experiment}}/{split}.txt",
            split=["train", "val", "test"],
        ),
        manifest="results/datasets/{experiment}/manifest.json",
    log:
        "results/logs/datasets/{experiment}.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=lambda wildcards: get_dataset_settings(wildcards.experiment),
    shell:
        "python -m workflow.datasets.build --settings {params.settings:q}"
        " --experiment {wildcards.experiment} --detect-tiles {input.tiles}"
        " --synthetic {input.synthetic} --out results/datasets/{wildcards.experiment}"
        " > {log} 2>&1"
