# Datasets -> detectors: ultralytics YOLOv8 / YOLOv5u, one job per arch x experiment x seed,
# each evaluated on the real test split (metrics.json). With detect.start = pretrain, each arch
# is first pre-trained once on separately generated demo scenes, and every seed of every
# experiment fine-tunes from those weights (the demo's stand-in for COCO weights).
# One thread per training: on CPU, two single-thread trainings side by side beat one on two
# threads (small convolutions scale badly), so a CPU-only run lets as many GPU-declared jobs run
# at once as there are cores (`make demo` passes `--resources gpu=<cores>`); on a GPU the thread
# count hardly matters. The device and the data-loader workers (detect.train.device, .workers)
# come through the run_flags resource (RUNTIME, rules/common.smk), not params: where a training
# runs reruns nothing.


wildcard_constraints:
    arch="|".join(config["detect"]["archs"]),
    seed=r"\d+",


rule detect_pretrain_data:
    input:
        code=get_code("workflow.detect.pretrain_data"),
    output:
        data="results/detect/pretrain/data/data.yaml",
        manifest="results/detect/pretrain/data/manifest.json",
    log:
        "results/logs/detect/pretrain_data.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=get_pretrain_data_settings(),
    shell:
        "python -m workflow.detect.pretrain_data --settings {params.settings:q}"
        " --out results/detect/pretrain/data > {log} 2>&1"


rule detect_pretrain:
    input:
        data="results/detect/pretrain/data/data.yaml",
        code=get_code("workflow.detect.train"),
    output:
        weights="results/detect/pretrain/{arch}/weights/best.pt",
        results="results/detect/pretrain/{arch}/results.csv",
        metrics="results/detect/pretrain/{arch}/metrics.json",
    log:
        "results/logs/detect/pretrain_{arch}.log",
    benchmark:
        "results/benchmarks/detect/pretrain_{arch}.tsv"
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=get_detect_gpus(pretrain=True),
        run_flags=RUNTIME["detect_pretrain"],
    params:
        settings=get_pretrain_settings(),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.detect.train --settings {params.settings:q} --data {input.data}"
        " --arch {wildcards.arch} --seed 0 --experiment pretrain"
        " --config-dir results/detect/ultralytics --threads {threads} {resources.run_flags}"
        " --out results/detect/pretrain/{wildcards.arch} > {log} 2>&1"


rule detect_train:
    input:
        unpack(lambda wildcards: get_start_weights(wildcards.arch)),
        data="results/datasets/{experiment}/data.yaml",
        code=get_code("workflow.detect.train"),
    output:
        weights="results/detect/{arch}/{experiment}/seed{seed}/weights/best.pt",
        results="results/detect/{arch}/{experiment}/seed{seed}/results.csv",
        metrics="results/detect/{arch}/{experiment}/seed{seed}/metrics.json",
    log:
        "results/logs/detect/{arch}/{experiment}/seed{seed}.log",
    benchmark:
        "results/benchmarks/detect/{arch}/{experiment}/seed{seed}.tsv"
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=get_detect_gpus(),
        run_flags=RUNTIME["detect_train"],
    params:
        settings=lambda wildcards: get_train_settings(wildcards.experiment),
        start=lambda wildcards: get_start_flags(wildcards.arch),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.detect.train --settings {params.settings:q} --data {input.data}"
        " --arch {wildcards.arch} --seed {wildcards.seed} --experiment {wildcards.experiment}"
        " {params.start} --config-dir results/detect/ultralytics --threads {threads}"
        " {resources.run_flags}"
        " --out results/detect/{wildcards.arch}/{wildcards.experiment}/seed{wildcards.seed}"
        " > {log} 2>&1"


rule detect_learning_curve:
    input:
        unpack(lambda wildcards: get_start_weights(wildcards.arch)),
        data=f"results/datasets/{get_judge_experiment()}/data.yaml",
        code=get_code("workflow.detect.train"),
    output:
        curve="results/detect/{arch}/learning_curve/target_curve.csv",
        results="results/detect/{arch}/learning_curve/results.csv",
        metrics="results/detect/{arch}/learning_curve/metrics.json",
    log:
        "results/logs/detect/{arch}/learning_curve.log",
    benchmark:
        "results/benchmarks/detect/{arch}/learning_curve.tsv"
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=get_detect_gpus(),
        run_flags=RUNTIME["detect_train"],
    params:
        settings=get_learning_curve_settings(),
        start=lambda wildcards: get_start_flags(wildcards.arch),
        seed=config["detect"]["seeds"][0],
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.detect.train --settings {params.settings:q} --data {input.data}"
        " --arch {wildcards.arch} --seed {params.seed} --experiment learning_curve"
        " {params.start} --config-dir results/detect/ultralytics --threads {threads}"
        " {resources.run_flags}"
        " --out results/detect/{wildcards.arch}/learning_curve > {log} 2>&1"
