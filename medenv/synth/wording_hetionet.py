"""Question wording for Hetionet's node types and relations (data only).

Same layout as `medenv.synth.render.NOUNS` / `PHRASES`, which include these tables:
``(relation, subject is the edge's head) -> ((verb, verb before a named object or None),
...)``. A verb is followed by ``the <noun> "<name>"`` (a named entity) or ``a <noun> that
...`` (a described one), so no verb here ends in a noun of its own. Every relation of
`medenv.kg.loaders.hetionet.METAEDGES` has phrases both ways (a test checks it);
``associated_gene`` (Disease-associates-Gene) shares HPO's.
"""

from __future__ import annotations

NOUNS = {
    "compound": ("compound", "drug"),
    "anatomy": ("anatomical structure",),
    "symptom": ("symptom",),
    "side_effect": ("side effect",),
    "pathway": ("pathway",),
    "biological_process": ("biological process",),
    "cellular_component": ("cellular component",),
    "molecular_function": ("molecular function",),
    "pharmacologic_class": ("pharmacologic class", "drug class"),
}


def _both(*verbs: str) -> tuple[tuple[str, None], ...]:
    return tuple((v, None) for v in verbs)


PHRASES = {
    ("anatomy_downregulates_gene", True): _both("shows downregulation of"),
    ("anatomy_downregulates_gene", False): _both("is downregulated in"),
    ("expresses", True): _both("expresses"),
    ("expresses", False): _both("is expressed in"),
    ("anatomy_upregulates_gene", True): _both("shows upregulation of"),
    ("anatomy_upregulates_gene", False): _both("is upregulated in"),
    ("binds", True): _both("binds the protein encoded by", "targets the product of"),
    ("binds", False): _both("encodes a protein bound by", "encodes a target of"),
    ("causes_side_effect", True): _both("can cause"),
    ("causes_side_effect", False): _both("is a side effect of"),
    ("compound_downregulates_gene", True): _both("downregulates"),
    ("compound_downregulates_gene", False): _both("is downregulated by"),
    ("compound_upregulates_gene", True): _both("upregulates"),
    ("compound_upregulates_gene", False): _both("is upregulated by"),
    ("palliates", True): _both("palliates", "is used to palliate"),
    ("palliates", False): _both("is palliated by"),
    ("compound_resembles_compound", True): _both("is chemically similar to"),
    ("compound_resembles_compound", False): _both("is chemically similar to"),
    ("treats", True): _both("treats", "is a treatment for"),
    ("treats", False): _both("is treated by", "can be treated with"),
    ("disease_downregulates_gene", True): _both("downregulates"),
    ("disease_downregulates_gene", False): _both("is downregulated in"),
    ("disease_upregulates_gene", True): _both("upregulates"),
    ("disease_upregulates_gene", False): _both("is upregulated in"),
    ("localizes", True): _both("localizes to", "affects"),
    ("localizes", False): _both("is a site of", "is affected by"),
    ("presents_symptom", True): _both("presents with", "manifests with"),
    ("presents_symptom", False): _both("is a symptom of"),
    ("disease_resembles_disease", True): _both("resembles"),
    ("disease_resembles_disease", False): _both("resembles"),
    ("covaries", True): _both("covaries in evolution with"),
    ("covaries", False): _both("covaries in evolution with"),
    ("interacts", True): _both("has a product that interacts with the product of"),
    ("interacts", False): _both("has a product that interacts with the product of"),
    ("participates_in_process", True): _both("participates in"),
    ("participates_in_process", False): _both("involves"),
    ("located_in_component", True): _both("has a product located in"),
    ("located_in_component", False): _both("contains the product of"),
    ("has_function", True): (("has", "has the molecular function"),),
    ("has_function", False): _both("is a molecular function of"),
    ("participates_in_pathway", True): _both("participates in"),
    ("participates_in_pathway", False): _both("involves"),
    ("regulates", True): _both("regulates"),
    ("regulates", False): _both("is regulated by"),
    ("includes", True): _both("includes"),
    ("includes", False): _both("belongs to"),
}
