# Crops -> plane bank: a mask (SAM, GrabCut or the box), Canny edges and a size class per plane
# crop. masks.chunks jobs, each taking every chunks-th crop, then one merge (manifest, contact
# sheet, summary). The chunk jobs ask for a GPU only when SAM runs.

MASK_CHUNKS = range(config["masks"]["chunks"])


def get_masks_gpu():
    """SAM's image encoder runs on the GPU; GrabCut and box masks need none."""
    return 1 if config["masks"]["method"] == "sam" else 0


def get_sam_checkpoint():
    """The SAM checkpoint as an input file when method is sam (a missing one fails the DAG)."""
    if config["masks"]["method"] == "sam" and config["masks"]["sam"]["checkpoint"]:
        return [config["masks"]["sam"]["checkpoint"]]
    return []


rule mask_chunk:
    input:
        crops="results/tiles/crops/manifest.csv",
        checkpoint=get_sam_checkpoint(),
        code=get_code("workflow.masks"),
    output:
        chunk=directory("results/bank/chunk{chunk}"),
    log:
        "results/logs/bank/chunk{chunk}.log",
    benchmark:
        "results/logs/bank/chunk{chunk}.benchmark.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=get_masks_gpu(),
    params:
        settings=get_settings("masks", "tiling"),
    shell:
        "python -m workflow.masks chunk --settings {params.settings:q} --crops {input.crops}"
        " --chunk {wildcards.chunk} --out {output.chunk} > {log} 2>&1"


rule mask_merge:
    input:
        crops="results/tiles/crops/manifest.csv",
        chunks=expand("results/bank/chunk{chunk}", chunk=MASK_CHUNKS),
        code=get_code("workflow.masks"),
    output:
        manifest="results/bank/manifest.csv",
        contact_sheet="results/bank/contact_sheet.png",
        summary="results/bank/summary.json",
    log:
        "results/logs/bank/merge.log",
    conda:
        "../envs/torch.yaml"
    params:
        settings=get_settings("masks", "tiling"),
    shell:
        "python -m workflow.masks merge --settings {params.settings:q} --crops {input.crops}"
        " --chunks {input.chunks} --manifest {output.manifest}"
        " --contact-sheet {output.contact_sheet} --summary {output.summary} > {log} 2>&1"
