# Crops -> plane bank: a mask (SAM, GrabCut or the box), Canny edges and a size class per plane
# crop. Masks are made on each plane's scene pixels near native resolution (the crops manifest
# says where a crop lies, the index's scenes.csv where its scene is), then brought to the crop.
# masks.chunks jobs, each taking every chunks-th crop, then one merge (manifest, summary) and the
# contact sheet, a rule of its own so that changing it does not rebuild the bank. The chunk jobs
# ask for a GPU only when SAM runs (get_masks_gpu, rules/common.smk).

BANK_PARAMS = load_source("workflow/bank/params.py")


rule mask_chunk:
    input:
        crops=rules.crops.output.manifest,
        scenes=rules.index.output.scenes,
        checkpoint=get_sam_checkpoint(),
        code=get_code("workflow.bank.masks"),
    output:
        chunk=directory("results/bank/chunk{chunk}"),
    log:
        "results/logs/bank/chunk{chunk}.log",
    benchmark:
        "results/benchmarks/bank/chunk{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=get_masks_gpu(),
    params:
        settings=as_json(BANK_PARAMS.chunk_settings(config)),
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.bank.masks chunk --settings {params.settings:q} --crops {input.crops}"
        " --scenes {input.scenes} --chunk {wildcards.chunk} --out {output.chunk} > {log} 2>&1"


rule mask_merge:
    input:
        crops=rules.crops.output.manifest,
        crops_summary=rules.crops.output.summary,
        chunks=expand(
            rules.mask_chunk.output.chunk, chunk=range(config["masks"]["chunks"])
        ),
        code=get_code("workflow.bank.masks"),
    output:
        manifest="results/bank/manifest.csv",
        summary="results/bank/summary.json",
    log:
        "results/logs/bank/merge.log",
    conda:
        "../envs/torch.yaml"
    params:
        settings=as_json(BANK_PARAMS.chunk_settings(config)),
    shell:
        "python -m workflow.bank.masks merge --settings {params.settings:q} --crops {input.crops}"
        " --chunks {input.chunks} --crops-summary {input.crops_summary}"
        " --manifest {output.manifest} --summary {output.summary}"
        " > {log} 2>&1"


rule mask_contact_sheet:
    input:
        manifest=rules.mask_merge.output.manifest,
        code=get_code("workflow.bank.masks"),
    output:
        sheet=report("results/bank/contact_sheet.png", category="Plane bank"),
    log:
        "results/logs/bank/contact_sheet.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=as_json(BANK_PARAMS.sheet_settings(config)),
    shell:
        "python -m workflow.bank.masks sheet --settings {params.settings:q}"
        " --manifest {input.manifest} --out {output.sheet} > {log} 2>&1"
