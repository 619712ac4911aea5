"""Write notebooks/quickstart.ipynb (the notebook is generated so that its cells stay tidy).

Run: python scripts/make_quickstart.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        "# circles quickstart\n\nThe gap analysis of the embedded demo (Beijing, Haidian; "
        "© OpenStreetMap contributors) through the Python API: first in one call, then one stage "
        "at a time: load → network → residents → reach → rules → gaps → map."
    ),
    new_code_cell(
        "import logging\nlogging.basicConfig(level=logging.WARNING)\n\n"
        "import circles\n\n"
        "result = circles.analyse(progress=False)   # no inputs: the embedded demo\n"
        "paths = circles.write_outputs(result, 'results')\n"
        "result.gaps[['community_name', 'rule_id', 'status', 'covered_share']].head()"
    ),
    new_markdown_cell("## The same, stage by stage\nEach stage is a module of the package, GeoDataFrames in and out."),
    new_code_cell("from circles import access, demo, gaps, load, residents"),
    new_markdown_cell(
        "## 1. The rules and the inputs\nThe rulebook is data: facility types, thresholds, walking "
        "speeds and their sources."
    ),
    new_code_cell(
        "rules = circles.load_rulebook('complete_community_2020')\n"
        "[(r.id, r.threshold_min, rules.speed_of(r), r.verified) for r in rules.rules][:5]"
    ),
    new_code_cell(
        "communities = load.load_communities(demo.DEMO_BOUNDARIES)\n"
        "facilities = load.load_facilities(demo.DEMO_FACILITIES, rules.facility_types)\n"
        "buildings = load.load_buildings(demo.DEMO_BUILDINGS)\n"
        "communities[['id', 'name', 'population', 'population_estimated']]"
    ),
    new_markdown_cell("## 2. The walking network\nBuilt from the OSM file (walkable ways only), projected to UTM."),
    new_code_cell("net = circles.read_walk_network(demo.DEMO_OSM)\nnet.n_nodes, net.n_edges, net.crs"),
    new_markdown_cell(
        "## 3. Residents\nEach community's population is spread over its residential buildings "
        "(by floor area), or a grid where none is mapped."
    ),
    new_code_cell(
        "comms_p = communities.to_crs(net.crs)\n"
        "people = residents.place_residents(comms_p, buildings.to_crs(net.crs))\n"
        "people.groupby('community_id')['population'].sum().round()"
    ),
    new_markdown_cell("## 4. Walking distances\nOne bounded multi-source search per facility type, along streets."),
    new_code_cell(
        "types = rules.types_used()\n"
        "acc = access.compute_access(net, people, facilities.to_crs(net.crs), types, limit_m=4000, "
        "progress=False)\n"
        "acc.residents[['point_id', 'dist_kindergarten', 'nearest_kindergarten']].head()"
    ),
    new_markdown_cell(
        "## 5. The gap report\n`no_data` means the input says nothing about a type (OSM here has no "
        "elderly care): not the same as a gap."
    ),
    new_code_cell(
        "report = gaps.compute_gaps(communities, acc, rules, gaps.surveyed_types(facilities))\n"
        "report.pivot_table(index='community_name', columns='rule_id', values='status', aggfunc='first')"
    ),
    new_code_cell(
        "assert set(report['status']) <= {'ok', 'partial', 'gap', 'no_data'}\n"
        "report[report['status'] == 'gap'][['community_name', 'rule_id', 'residents_uncovered', "
        "'evidence']].head()"
    ),
    new_markdown_cell("## 6. Walking areas and the map\nThe stages give exactly what the one call gave."),
    new_code_cell(
        "assert result.gaps.equals(report)\nresult.isochrones[['facility_type', 'minutes', 'distance_m']].head()"
    ),
    new_code_cell("from circles import pipeline\n\nm = pipeline.build_map(result, lang='en')\nm"),
]
nb = new_notebook(
    cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
)
out = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
nbformat.write(nb, out)
print(out)
