# Plane bank + background tiles -> the copy-paste control: real bank planes pasted by their
# masks onto background tiles with the inpainted sets' placement rule, one job per set of
# copy_paste.sets, writing the manifest columns of an inpainted set. Helpers: rules/common.smk,
# "Copy-paste control".


rule copy_paste:
    input:
        bank="results/bank/manifest.csv",
        background="results/tiles/background/manifest.csv",
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
        settings=get_paste_settings,
    shell:
        "python -m workflow.copy_paste.paste --settings {params.settings:q} --set {wildcards.set}"
        " --bank {input.bank} --background {input.background}"
        " --out results/copy_paste/{wildcards.set} > {log} 2>&1"
