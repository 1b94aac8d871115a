# Synthetic sets + the gate's baseline detector -> selected sets: an equal share of planes from
# each source set, interleaved (the combined half diffusion, half copy-paste set), and with a
# threshold only the planes a detector trained on the training split's real images finds (the
# quality gate). One job per set of selection.sets; the images stay in their source's folder.

SELECTION_PARAMS = load_source("workflow/selection/params.py")


rule select_set:
    input:
        unpack(get_select_inputs),
        code=get_code("workflow.selection.select"),
    output:
        manifest="results/selection/{set}/manifest.csv",
        summary="results/selection/{set}/summary.json",
        contact_sheet=report(
            "results/selection/{set}/contact_sheet.png",
            caption="../docs/report/selection.rst",
            category="Selected sets",
        ),
    log:
        "results/logs/selection/{set}.log",
    wildcard_constraints:
        set=get_selected_set_pattern(),
    conda:
        "../envs/detect.yaml"
    threads: 1
    resources:
        gpu=get_select_gpus,
    params:
        settings=get_wildcard_settings(SELECTION_PARAMS.select_settings, "set"),
        flags=get_select_flags,
    shell:
        "python -m workflow.core.launch --gpus {resources.gpu} --"
        " python -m workflow.selection.select --settings {params.settings:q}"
        " --sources {input.sources} {params.flags} --manifest {output.manifest}"
        " --summary {output.summary} --contact-sheet {output.contact_sheet} > {log} 2>&1"
