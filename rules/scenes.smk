# Scenes -> index: the demo scene generator (when data.demo is set: it writes under
# resources/demo/ only, checked at load) and the scene/object index, whose warnings (skipped
# inputs, the split's sizes) reach the terminal as well as results/logs/index.log.

SCENES_PARAMS = load_source("workflow/scenes/params.py")


if config["data"]["demo"]:

    rule demo_scenes:
        input:
            code=get_code("workflow.scenes.demo_scenes"),
        output:
            xview_labels=config["data"]["xview"]["labels"],
            xview_images=directory(config["data"]["xview"]["images"]),
            dota_images=directory(config["data"]["dota"]["images"]),
            dota_labels=directory(config["data"]["dota"]["labels"]),
        log:
            "results/logs/demo_scenes.log",
        conda:
            "../envs/core.yaml"
        params:
            settings=as_json(SCENES_PARAMS.demo_settings(config)),
        shell:
            "python -m workflow.scenes.demo_scenes --settings {params.settings:q} > {log} 2>&1"


rule index:
    input:
        **get_scene_sources(),
        code=get_code("workflow.scenes.index"),
    output:
        scenes="results/index/scenes.csv",
        objects="results/index/objects.csv",
        summary="results/index/summary.json",
    log:
        "results/logs/index.log",
    conda:
        "../envs/core.yaml"
    params:
        settings=as_json(SCENES_PARAMS.index_settings(config)),
    shell:
        "python -m workflow.scenes.index --settings {params.settings:q}"
        " --scenes {output.scenes} --objects {output.objects} --summary {output.summary}"
        " --log {log}"
