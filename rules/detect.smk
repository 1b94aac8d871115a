# Datasets -> detectors: ultralytics YOLOv8 / YOLOv5u, one job per arch x experiment x seed,
# each evaluated on the real test split (metrics.json). With detect.start = pretrain, each arch
# is first pre-trained once on separately generated demo scenes, and every seed of every
# experiment fine-tunes from those weights (the demo's stand-in for COCO weights).
# One thread per training: on CPU, two single-thread trainings side by side beat one on two
# threads (small convolutions scale badly), so a CPU-only run lets as many GPU-declared jobs run
# at once as there are cores (`make demo` passes `--resources gpu=<cores>`); on a GPU the thread
# count hardly matters. The device and the data-loader workers (detect.train.device, .workers)
# come through the run_flags resource (workflow/detect/params.py, run_flags), not params: where a
# training runs reruns nothing.

DETECT_PARAMS = load_source("workflow/detect/params.py")


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
        settings=as_json(DETECT_PARAMS.pretrain_data_settings(config)),
        out=get_output_folder,
    shell:
        "python -m workflow.detect.pretrain_data --settings {params.settings:q}"
        " --out {params.out} > {log} 2>&1"


rule detect_pretrain:
    input:
        data=rules.detect_pretrain_data.output.data,
        code=get_code("workflow.detect.train"),
    output:
        weights="results/detect/pretrain/{arch}/weights/best.pt",
        results="results/detect/pretrain/{arch}/results.csv",
        metrics="results/detect/pretrain/{arch}/metrics.json",
    log:
        "results/logs/detect/pretrain_{arch}.log",
    benchmark:
        "results/benchmarks/detect/pretrain_{arch}.tsv"
    wildcard_constraints:
        arch=get_arch_pattern(),
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=get_detect_gpus(pretrain=True),
        run_flags=DETECT_PARAMS.run_flags(config, pretrain=True),
    params:
        settings=as_json(DETECT_PARAMS.pretrain_settings(config)),
        out=get_output_folder,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.detect.train --settings {params.settings:q} --data {input.data}"
        " --arch {wildcards.arch} --seed 0 --experiment pretrain"
        " --config-dir results/detect/ultralytics --threads {threads} {resources.run_flags}"
        " --out {params.out} > {log} 2>&1"


rule detect_train:
    input:
        unpack(get_train_inputs),
        data=rules.dataset.output.data,
        code=get_code("workflow.detect.train"),
    output:
        weights="results/detect/{arch}/{experiment}/seed{seed}/weights/best.pt",
        results="results/detect/{arch}/{experiment}/seed{seed}/results.csv",
        metrics="results/detect/{arch}/{experiment}/seed{seed}/metrics.json",
    log:
        "results/logs/detect/{arch}/{experiment}/seed{seed}.log",
    benchmark:
        "results/benchmarks/detect/{arch}/{experiment}/seed{seed}.tsv"
    wildcard_constraints:
        arch=get_arch_pattern(),
        experiment=get_experiment_pattern(),
        seed=r"\d+",
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=get_detect_gpus(),
        run_flags=DETECT_PARAMS.run_flags(config),
    params:
        settings=get_wildcard_settings(DETECT_PARAMS.train_settings, "experiment"),
        start=get_train_flags,
        out=get_output_folder,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.detect.train --settings {params.settings:q} --data {input.data}"
        " --arch {wildcards.arch} --seed {wildcards.seed} --experiment {wildcards.experiment}"
        " {params.start} --config-dir results/detect/ultralytics --threads {threads}"
        " {resources.run_flags} --out {params.out} > {log} 2>&1"


rule detect_learning_curve:
    input:
        unpack(get_train_inputs),
        data=rules.dataset.output.data.format(experiment=get_judge_experiment()),
        code=get_code("workflow.detect.train"),
    output:
        curve="results/detect/{arch}/learning_curve/target_curve.csv",
        results="results/detect/{arch}/learning_curve/results.csv",
        metrics="results/detect/{arch}/learning_curve/metrics.json",
    log:
        "results/logs/detect/{arch}/learning_curve.log",
    benchmark:
        "results/benchmarks/detect/{arch}/learning_curve.tsv"
    wildcard_constraints:
        arch=get_arch_pattern(),
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=get_detect_gpus(),
        run_flags=DETECT_PARAMS.run_flags(config),
    params:
        settings=as_json(
            DETECT_PARAMS.learning_curve_settings(config, get_judge_experiment())
        ),
        start=get_train_flags,
        seed=config["detect"]["seeds"][0],
        out=get_output_folder,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.detect.train --settings {params.settings:q} --data {input.data}"
        " --arch {wildcards.arch} --seed {params.seed} --experiment learning_curve"
        " {params.start} --config-dir results/detect/ultralytics --threads {threads}"
        " {resources.run_flags} --out {params.out} > {log} 2>&1"
