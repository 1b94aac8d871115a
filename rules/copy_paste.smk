# Plane bank + background tiles -> the copy-paste control: real bank planes pasted by their
# masks onto background tiles with the inpainted sets' placement rule, one job per set of
# copy_paste.sets, writing the manifest columns of an inpainted set.

COPY_PASTE_PARAMS = load_source("workflow/copy_paste/params.py")


rule copy_paste:
    input:
        unpack(get_paste_inputs),
        code=get_code("workflow.copy_paste.paste"),
    output:
        data=directory("results/copy_paste/{set}/data"),
        manifest="results/copy_paste/{set}/manifest.csv",
        contact_sheet=report(
            "results/copy_paste/{set}/contact_sheet.png",
            caption="../docs/report/copy_paste.rst",
            category="Copy-paste control",
        ),
    log:
        "results/logs/copy_paste/{set}.log",
    wildcard_constraints:
        set=get_paste_set_pattern(),
    conda:
        "../envs/core.yaml"
    params:
        settings=get_wildcard_settings(COPY_PASTE_PARAMS.paste_settings, "set"),
        out=get_output_folder,
        flags=get_paste_flags,
    shell:
        "python -m workflow.copy_paste.paste --settings {params.settings:q} --set {wildcards.set}"
        " --bank {input.bank} --background {input.background} {params.flags}"
        " --out {params.out} > {log} 2>&1"
