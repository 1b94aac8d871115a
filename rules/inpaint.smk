# Plane bank + background tiles + diffusion models -> synthetic planes inpainted with RePaint:
# one GPU job per chunk of each set of inpaint.sets, then one merge per set (manifest, contact
# sheet). Unconditional models get the size classifier (guidance); sets with candidates > 1
# get the cherry-picker (workflow/inpaint/params.py says which).

INPAINT_PARAMS = load_source("workflow/inpaint/params.py")


rule inpaint_chunk:
    input:
        unpack(get_inpaint_inputs),
        code=get_code("workflow.inpaint.run"),
    output:
        chunk=directory("results/inpaint/{set}/chunk{chunk}"),
    log:
        "results/logs/inpaint/{set}/chunk{chunk}.log",
    benchmark:
        "results/benchmarks/inpaint/{set}/chunk{chunk}.tsv"
    wildcard_constraints:
        set=get_inpaint_set_pattern(),
        chunk=r"\d+",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1,
    params:
        settings=get_wildcard_settings(INPAINT_PARAMS.chunk_settings, "set"),
        flags=get_inpaint_flags,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.inpaint.run --settings {params.settings:q} --set {wildcards.set}"
        " --chunk {wildcards.chunk} --bank {input.bank} --background {input.background}"
        " --model {input.model} {params.flags} --out {output.chunk} > {log} 2>&1"


rule inpaint_merge:
    input:
        chunks=get_inpaint_chunks,
        code=get_code("workflow.inpaint.merge"),
    output:
        manifest="results/inpaint/{set}/manifest.csv",
        contact_sheet=report(
            "results/inpaint/{set}/contact_sheet.png", category="Inpainting"
        ),
    log:
        "results/logs/inpaint/{set}/merge.log",
    wildcard_constraints:
        set=get_inpaint_set_pattern(),
    conda:
        "../envs/core.yaml"
    shell:
        "python -m workflow.inpaint.merge --chunks {input.chunks} --manifest {output.manifest}"
        " --contact-sheet {output.contact_sheet} > {log} 2>&1"
