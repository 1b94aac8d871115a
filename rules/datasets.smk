# Detection tiles (+ synthetic sets) -> one YOLO dataset per experiment of experiments.runs:
# image lists and a data.yaml with absolute paths; images are not copied.

DATASETS_PARAMS = load_source("workflow/datasets/params.py")


rule dataset:
    input:
        tiles=rules.detect_tiles.output.manifest,
        synthetic=get_dataset_synthetic,
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
    wildcard_constraints:
        experiment=get_experiment_pattern(),
    conda:
        "../envs/core.yaml"
    params:
        settings=get_wildcard_settings(DATASETS_PARAMS.dataset_settings, "experiment"),
        out=get_output_folder,
    shell:
        "python -m workflow.datasets.build --settings {params.settings:q}"
        " --experiment {wildcards.experiment} --detect-tiles {input.tiles}"
        " --synthetic {input.synthetic} --out {params.out} > {log} 2>&1"


# The size of a synthetic set whose `images` is auto: the most synthetic planes any experiment
# drawing from it needs (a replacement's removed planes, an augmentation's added images).
rule synthetic_needs:
    input:
        tiles=rules.detect_tiles.output.manifest,
        code=get_code("workflow.datasets.needs"),
    output:
        needs="results/datasets/needs/{set}.json",
    log:
        "results/logs/datasets/needs_{set}.log",
    wildcard_constraints:
        set=get_synthetic_set_pattern(),
    conda:
        "../envs/core.yaml"
    params:
        settings=get_wildcard_settings(DATASETS_PARAMS.needs_settings, "set"),
    shell:
        "python -m workflow.datasets.needs --settings {params.settings:q}"
        " --detect-tiles {input.tiles} --out {output.needs} > {log} 2>&1"
