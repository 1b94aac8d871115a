# Tiles + plane bank -> diffusion models: the base U-Net (trained here on the train-split tiles when
# diffusion.pretrained is null), one fine-tuned model per entry of diffusion.models, the noisy size
# classifier (guidance) and the plane-vs-background cherry-picker. Each job writes a training
# state under results/diffusion/state/ every checkpoint_every steps and resumes from it after a
# kill; the state is removed once the job's outputs are written.

if DIFFUSION["pretrained"] is None:

    rule pretrain:
        input:
            tiles="results/tiles/detect/manifest.csv",
            code=get_code("workflow.diffusion.train"),
        output:
            model="results/diffusion/base/model.pt",
            loss_csv="results/diffusion/base/loss.csv",
            loss_png=report("results/diffusion/base/loss.png", category="Diffusion"),
            samples=report("results/diffusion/base/samples.png", category="Diffusion"),
        log:
            "results/logs/diffusion/pretrain.log",
        benchmark:
            "results/benchmarks/diffusion/pretrain.tsv"
        conda:
            "../envs/torch.yaml"
        resources:
            gpu=1,
        params:
            settings=get_diffusion_settings("pretrain"),
        shell:
            "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
            " python -m workflow.diffusion.train pretrain --settings {params.settings:q}"
            " --tiles {input.tiles} --model {output.model} --loss-csv {output.loss_csv}"
            " --loss-png {output.loss_png} --samples {output.samples}"
            " --state results/diffusion/state/pretrain.pt > {log} 2>&1"


rule finetune:
    input:
        bank="results/bank/manifest.csv",
        base=get_base_model(),
        code=get_code("workflow.diffusion.train"),
    output:
        model="results/diffusion/models/{model}/model.pt",
        loss_csv="results/diffusion/models/{model}/loss.csv",
        loss_png=report(
            "results/diffusion/models/{model}/loss.png", category="Diffusion"
        ),
        samples=report(
            "results/diffusion/models/{model}/samples.png", category="Diffusion"
        ),
    log:
        "results/logs/diffusion/finetune_{model}.log",
    benchmark:
        "results/benchmarks/diffusion/finetune_{model}.tsv"
    wildcard_constraints:
        model="|".join(DIFFUSION_MODELS),
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        settings=get_finetune_settings,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
        " python -m workflow.diffusion.train finetune --settings {params.settings:q}"
        " --bank {input.bank} --base {input.base} --model {output.model}"
        " --loss-csv {output.loss_csv} --loss-png {output.loss_png} --samples {output.samples}"
        " --state results/diffusion/state/finetune_{wildcards.model}.pt > {log} 2>&1"


rule size_classifier:
    input:
        bank="results/bank/manifest.csv",
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
    params:
        settings=get_diffusion_settings(
            "size_classifier", keys=("preset", "schedule", "steps", "seed")
        ),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
        " python -m workflow.diffusion.train_classifier size --settings {params.settings:q}"
        " --bank {input.bank} --model {output.model} --loss-csv {output.loss_csv}"
        " --loss-png {output.loss_png} --state results/diffusion/state/size_classifier.pt"
        " > {log} 2>&1"


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
    params:
        settings=get_diffusion_settings("cherry_picker", keys=("seed",)),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --distributed --"
        " python -m workflow.diffusion.train_classifier cherry --settings {params.settings:q}"
        " --bank {input.bank} --background {input.background} --model {output.model}"
        " --loss-csv {output.loss_csv} --loss-png {output.loss_png}"
        " --state results/diffusion/state/cherry_picker.pt > {log} 2>&1"
