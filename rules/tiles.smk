# Index -> tiles: plane-centred crops (diffusion data), plane-free background tiles (inpainting
# targets) and detection tiles with YOLO labels. Three rules so that a changed detection tile
# size does not retrain the diffusion models, and the reverse (each reads its own tiling keys).

TILES_PARAMS = load_source("workflow/tiles/params.py")


rule crops:
    input:
        scenes=rules.index.output.scenes,
        objects=rules.index.output.objects,
        code=get_code("workflow.tiles.tiling"),
    output:
        manifest="results/tiles/crops/manifest.csv",
        summary="results/tiles/crops/summary.json",
    log:
        "results/logs/tiles/crops.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=as_json(TILES_PARAMS.tiling_settings(config, "crops")),
    shell:
        "python -m workflow.tiles.tiling crops --settings {params.settings:q}"
        " --scenes {input.scenes} --objects {input.objects} --manifest {output.manifest}"
        " --summary {output.summary} > {log} 2>&1"


rule background_tiles:
    input:
        scenes=rules.index.output.scenes,
        objects=rules.index.output.objects,
        code=get_code("workflow.tiles.tiling"),
    output:
        manifest="results/tiles/background/manifest.csv",
    log:
        "results/logs/tiles/background.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=as_json(TILES_PARAMS.tiling_settings(config, "background")),
    shell:
        "python -m workflow.tiles.tiling background --settings {params.settings:q}"
        " --scenes {input.scenes} --objects {input.objects} --manifest {output.manifest}"
        " > {log} 2>&1"


rule detect_tiles:
    input:
        scenes=rules.index.output.scenes,
        objects=rules.index.output.objects,
        code=get_code("workflow.tiles.tiling"),
    output:
        manifest="results/tiles/detect/manifest.csv",
    log:
        "results/logs/tiles/detect.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=as_json(TILES_PARAMS.tiling_settings(config, "detect")),
    shell:
        "python -m workflow.tiles.tiling detect --settings {params.settings:q}"
        " --scenes {input.scenes} --objects {input.objects} --manifest {output.manifest}"
        " > {log} 2>&1"


# Detection tiles + background tiles -> how much each background tile's ground resembles the
# ground around the training split's real planes (context `apron` draws from the closest).
rule ground_scores:
    input:
        detect=rules.detect_tiles.output.manifest,
        background=rules.background_tiles.output.manifest,
        code=get_code("workflow.tiles.ground"),
    output:
        scores="results/tiles/ground/scores.csv",
        planes="results/tiles/ground/planes.csv",
    log:
        "results/logs/tiles/ground.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=as_json(TILES_PARAMS.ground_settings(config)),
    shell:
        "python -m workflow.tiles.ground --settings {params.settings:q} --detect {input.detect}"
        " --background {input.background} --scores {output.scores} --planes {output.planes}"
        " > {log} 2>&1"
