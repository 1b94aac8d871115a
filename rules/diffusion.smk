# Tiles + plane bank -> diffusion models: the base U-Net (trained here on the plane-free
# background tiles of the train split when diffusion.pretrained is null, from random weights or
# from diffusion.pretrain.init), one fine-tuned model per entry of diffusion.models, the noisy size
# classifier (guidance) and the plane-vs-background cherry-picker. Each training writes a training
# state under results/diffusion/state/ every checkpoint_every steps (a flag of the run_flags
# resource, which reruns nothing: rules/common.smk) and resumes from it after a kill; the state is
# removed once the job's outputs are written. The sample grids are rules of their own, drawn from
# the written models, so that a grid setting redraws a picture and trains nothing.

DIFFUSION_PARAMS = load_source("workflow/diffusion/params.py")


if config["diffusion"]["pretrained"] is None:

    rule pretrain:
        input:
            unpack(get_pretrain_init),
            tiles=rules.background_tiles.output.manifest,
            code=get_code("workflow.diffusion.train"),
        output:
            model="results/diffusion/base/model.pt",
            loss_csv="results/diffusion/base/loss.csv",
            loss_png=report("results/diffusion/base/loss.png", category="Diffusion"),
        log:
            "results/logs/diffusion/pretrain.log",
        benchmark:
            "results/benchmarks/diffusion/pretrain.tsv"
        conda:
            "../envs/torch.yaml"
        resources:
            gpu=1,
            run_flags=DIFFUSION_PARAMS.run_flags(config, "pretrain"),
        params:
            settings=as_json(DIFFUSION_PARAMS.unet_settings(config, "pretrain")),
            init=get_pretrain_init_flag,
        shell:
            "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
            " python -m workflow.diffusion.train pretrain --settings {params.settings:q}"
            " --tiles {input.tiles} {params.init} --model {output.model} --loss-csv {output.loss_csv}"
            " --loss-png {output.loss_png} --state results/diffusion/state/pretrain.pt"
            " {resources.run_flags} > {log} 2>&1"


# The base's sample grid, whether the base was trained here or given by diffusion.pretrained.
rule pretrain_grid:
    input:
        model=get_base_model(),
        code=get_code("workflow.diffusion.grid"),
    output:
        samples=report("results/diffusion/base/samples.png", category="Diffusion"),
    log:
        "results/logs/diffusion/pretrain_grid.log",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        settings=as_json(DIFFUSION_PARAMS.grid_settings(config, "pretrain")),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.diffusion.grid --settings {params.settings:q}"
        " --model {input.model} --out {output.samples} > {log} 2>&1"


rule finetune:
    input:
        bank=rules.mask_merge.output.manifest,
        base=get_base_model(),
        code=get_code("workflow.diffusion.train"),
    output:
        model="results/diffusion/models/{model}/model.pt",
        loss_csv="results/diffusion/models/{model}/loss.csv",
        loss_png=report(
            "results/diffusion/models/{model}/loss.png", category="Diffusion"
        ),
    log:
        "results/logs/diffusion/finetune_{model}.log",
    benchmark:
        "results/benchmarks/diffusion/finetune_{model}.tsv"
    wildcard_constraints:
        model=get_model_pattern(),
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1,
        run_flags=DIFFUSION_PARAMS.run_flags(config, "finetune"),
    params:
        settings=get_wildcard_settings(DIFFUSION_PARAMS.finetune_settings, "model"),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
        " python -m workflow.diffusion.train finetune --settings {params.settings:q}"
        " --bank {input.bank} --base {input.base} --model {output.model}"
        " --loss-csv {output.loss_csv} --loss-png {output.loss_png}"
        " --state results/diffusion/state/finetune_{wildcards.model}.pt"
        " {resources.run_flags} > {log} 2>&1"


rule finetune_grid:
    input:
        unpack(get_grid_inputs),
        code=get_code("workflow.diffusion.grid"),
    output:
        samples=report(
            "results/diffusion/models/{model}/samples.png", category="Diffusion"
        ),
    log:
        "results/logs/diffusion/finetune_grid_{model}.log",
    wildcard_constraints:
        model=get_model_pattern(),
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        settings=as_json(DIFFUSION_PARAMS.grid_settings(config, "finetune")),
        bank=get_grid_flags,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.diffusion.grid --settings {params.settings:q}"
        " --model {input.model} {params.bank} --out {output.samples} > {log} 2>&1"


rule size_classifier:
    input:
        bank=rules.mask_merge.output.manifest,
        code=get_code("workflow.diffusion.train_classifier"),
    output:
        model="results/diffusion/size_classifier/model.pt",
        loss_csv="results/diffusion/size_classifier/loss.csv",
        loss_png=report(
            "results/diffusion/size_classifier/loss.png", category="Diffusion"
        ),
    log:
        "results/logs/diffusion/size_classifier.log",
    benchmark:
        "results/benchmarks/diffusion/size_classifier.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1,
        run_flags=DIFFUSION_PARAMS.run_flags(config, "size_classifier"),
    params:
        settings=as_json(DIFFUSION_PARAMS.size_classifier_settings(config)),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
        " python -m workflow.diffusion.train_classifier size_classifier --settings {params.settings:q}"
        " --bank {input.bank} --model {output.model} --loss-csv {output.loss_csv}"
        " --loss-png {output.loss_png} --state results/diffusion/state/size_classifier.pt"
        " {resources.run_flags} > {log} 2>&1"


rule cherry_picker:
    input:
        **get_cherry_picker_inputs(),
        code=get_code("workflow.diffusion.train_classifier"),
    output:
        model="results/diffusion/cherry_picker/model.pt",
        loss_csv="results/diffusion/cherry_picker/loss.csv",
        loss_png=report(
            "results/diffusion/cherry_picker/loss.png", category="Diffusion"
        ),
    log:
        "results/logs/diffusion/cherry_picker.log",
    benchmark:
        "results/benchmarks/diffusion/cherry_picker.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1,
        run_flags=DIFFUSION_PARAMS.run_flags(config, "cherry_picker"),
    params:
        settings=as_json(DIFFUSION_PARAMS.cherry_picker_settings(config)),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
        " python -m workflow.diffusion.train_classifier cherry_picker --settings {params.settings:q}"
        " --bank {input.bank} --background {input.background} --model {output.model}"
        " --loss-csv {output.loss_csv} --loss-png {output.loss_png}"
        " --state results/diffusion/state/cherry_picker.pt {resources.run_flags} > {log} 2>&1"
