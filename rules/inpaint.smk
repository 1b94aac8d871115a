# Plane bank + background tiles + diffusion models -> synthetic planes inpainted with RePaint:
# one GPU job per chunk of each set of inpaint.sets, then one merge per set (manifest, contact
# sheet). Unconditional models get the size classifier (guidance); sets with candidates > 1
# get the cherry-picker.

INPAINT_SETS = config["inpaint"]["sets"]


def check_inpaint_sets():
    """Each set names a model of diffusion.models (a JSON schema cannot check it)."""
    for name, spec in INPAINT_SETS.items():
        if spec["model"] not in config["diffusion"]["models"]:
            raise ValueError(
                f"config key 'inpaint.sets.{name}.model': {spec['model']!r} is not a key of "
                f"diffusion.models {sorted(config['diffusion']['models'])}"
            )


check_inpaint_sets()


def inpaint_guided(set_name):
    """Unconditional models are guided toward the size class when guidance_scale > 0."""
    model = INPAINT_SETS[set_name]["model"]
    condition = config["diffusion"]["models"][model]
    return condition == "none" and config["inpaint"]["guidance_scale"] > 0


def get_inpaint_inputs(wildcards):
    """The files a chunk of set `wildcards.set` reads."""
    spec = INPAINT_SETS[wildcards.set]
    inputs = {
        "bank": "results/bank/manifest.csv",
        "background": "results/tiles/background/manifest.csv",
        "model": f"results/diffusion/models/{spec['model']}/model.pt",
    }
    if inpaint_guided(wildcards.set):
        inputs["classifier"] = "results/diffusion/size_classifier/model.pt"
    if spec["candidates"] > 1:
        inputs["cherry_picker"] = "results/diffusion/cherry_picker/model.pt"
    return inputs


def get_inpaint_flags(wildcards):
    """--classifier / --cherry-picker flags matching get_inpaint_inputs, as one string."""
    inputs = get_inpaint_inputs(wildcards)
    flags = []
    if "classifier" in inputs:
        flags.append(f"--classifier {inputs['classifier']}")
    if "cherry_picker" in inputs:
        flags.append(f"--cherry-picker {inputs['cherry_picker']}")
    return " ".join(flags)


def get_inpaint_chunks(wildcards):
    chunks = range(config["inpaint"]["chunks"])
    return [f"results/inpaint/{wildcards.set}/chunk{i}" for i in chunks]


rule inpaint_chunk:
    input:
        unpack(get_inpaint_inputs),
        code=get_code("workflow.inpaint.run"),
    output:
        directory("results/inpaint/{set}/chunk{chunk}"),
    wildcard_constraints:
        set="|".join(INPAINT_SETS),
        chunk=r"\d+",
    params:
        settings=get_settings("inpaint", "classes"),
        flags=get_inpaint_flags,
    resources:
        gpu=1,
    log:
        "results/logs/inpaint/{set}/chunk{chunk}.log",
    benchmark:
        "results/benchmarks/inpaint/{set}/chunk{chunk}.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m workflow.inpaint.run --settings {params.settings:q} --set {wildcards.set}"
        " --chunk {wildcards.chunk} --bank {input.bank} --background {input.background}"
        " --model {input.model} {params.flags} --out {output} > {log} 2>&1"


rule inpaint_merge:
    input:
        chunks=get_inpaint_chunks,
        code=get_code("workflow.inpaint.merge"),
    output:
        manifest="results/inpaint/{set}/manifest.csv",
        contact_sheet=report(
            "results/inpaint/{set}/contact_sheet.png", category="Inpainting"
        ),
    wildcard_constraints:
        set="|".join(INPAINT_SETS),
    log:
        "results/logs/inpaint/{set}/merge.log",
    conda:
        "../envs/core.yaml"
    shell:
        "python -m workflow.inpaint.merge --chunks {input.chunks} --manifest {output.manifest}"
        " --contact-sheet {output.contact_sheet} > {log} 2>&1"
