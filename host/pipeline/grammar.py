"""The recogniser's JSGF grammar, generated from the intents' phrasings.

One rule per intent, one per slot (number words expanded: "twenty one" ...),
and a public rule that allows any intent with an optional "please" around it.
Pure text generation; host.pipeline.asr hands the result to pocketsphinx.
"""
from host.pipeline import intents as intents_module
from host.pipeline import templates

GRAMMAR_NAME = "pipit"
PUBLIC_RULE = "utterance"


def jsgf(intents=intents_module.INTENTS, slots=intents_module.SLOTS,
         polite=intents_module.POLITE, public=True):
    """A JSGF V1.0 grammar accepting every phrasing of every intent.

    public=False leaves <utterance> private, for a caller that adds its own
    public rule around it (the recogniser's out-of-grammar rejection).
    """
    lines = ["#JSGF V1.0;", "grammar %s;" % GRAMMAR_NAME, ""]
    names = ["<%s>" % intent.name for intent in intents]
    polite_jsgf = templates.to_jsgf(templates.parse(polite))
    lines.append("%s<%s> = %s ( %s ) %s;" % ("public " if public else "", PUBLIC_RULE, polite_jsgf,
                                            " | ".join(names), polite_jsgf))
    used = set()
    for intent in intents:
        nodes = [templates.parse(p) for p in intent.phrasings]
        used.update(n.name for node in nodes for n in templates.walk(node)
                    if isinstance(n, templates.Slot))
        lines.append("<%s> = %s;" % (intent.name,
                                     " | ".join("( %s )" % templates.to_jsgf(n) for n in nodes)))
    for name in sorted(used):
        lines.append("<%s> = %s;" % (name, " | ".join(slots[name])))
    return "\n".join(lines) + "\n"


def vocabulary(intents=intents_module.INTENTS, slots=intents_module.SLOTS,
               polite=intents_module.POLITE):
    """Every word the grammar can produce (each must be in the dictionary)."""
    found = set()
    for text in [polite] + [p for intent in intents for p in intent.phrasings]:
        for node in templates.walk(templates.parse(text)):
            if isinstance(node, templates.Word):
                found.add(node.text)
            elif isinstance(node, templates.Slot):
                found.update(word for value in slots[node.name] for word in value.split())
    return found


def sentences_jsgf(sentences, public=True):
    """A grammar accepting exactly these sentences (punctuation and case dropped)."""
    options = sorted({intents_module.normalise(s) for s in sentences} - {""})
    return ("#JSGF V1.0;\ngrammar %s;\n\n%s<%s> = %s;\n"
            % (GRAMMAR_NAME, "public " if public else "", PUBLIC_RULE,
               " | ".join("( %s )" % option for option in options)))
