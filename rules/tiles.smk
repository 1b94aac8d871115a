# Index -> tiles: plane-centred crops (diffusion data), plane-free background tiles (inpainting
# targets) and detection tiles with YOLO labels. Three rules so that a changed detection tile
# size does not retrain the diffusion models, and the reverse.


rule crops:
    input:
        scenes="results/index/scenes.csv",
        objects="results/index/objects.csv",
        code=get_code("workflow.tiles.tiling"),
    output:
        manifest="results/tiles/crops/manifest.csv",
        summary="results/tiles/crops/summary.json",
    log:
        "results/logs/tiles/crops.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=get_tiling_settings("crops"),
    shell:
        "python -m workflow.tiles.tiling crops --settings {params.settings:q}"
        " --scenes {input.scenes} --objects {input.objects} --manifest {output.manifest}"
        " --summary {output.summary} > {log} 2>&1"


rule background_tiles:
    input:
        scenes="results/index/scenes.csv",
        objects="results/index/objects.csv",
        code=get_code("workflow.tiles.tiling"),
    output:
        manifest="results/tiles/background/manifest.csv",
    log:
        "results/logs/tiles/background.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=get_tiling_settings("background"),
    shell:
        "python -m workflow.tiles.tiling background --settings {params.settings:q}"
        " --scenes {input.scenes} --objects {input.objects} --manifest {output.manifest}"
        " > {log} 2>&1"


rule detect_tiles:
    input:
        scenes="results/index/scenes.csv",
        objects="results/index/objects.csv",
        code=get_code("workflow.tiles.tiling"),
    output:
        manifest="results/tiles/detect/manifest.csv",
    log:
        "results/logs/tiles/detect.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=get_tiling_settings("detect"),
    shell:
        "python -m workflow.tiles.tiling detect --settings {params.settings:q}"
        " --scenes {input.scenes} --objects {input.objects} --manifest {output.manifest}"
        " > {log} 2>&1"
