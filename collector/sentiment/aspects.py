"""Lexicon-driven aspects: which product aspects a review talks about, clause by clause.

A review is cut into clauses (English: sentence ends, ``;``, ``but``/``however``/``although``; Chinese: ``。！？；，``
and ``但``/``但是``/``可是``/``不过``); a clause mentions an aspect when it holds one of the aspect's keywords
(English: whole words, plural ``s`` allowed; Chinese: substrings). Each mention takes the polarity of its clause,
which the caller scores (:mod:`collector.sentiment.analyse`).
"""

from __future__ import annotations

import re
from functools import cache

from collector.sentiment.features import normalise

#: aspect -> (English keywords, Chinese keywords)
ASPECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fit": (("fit", "fits", "fitted", "fitting", "snug", "loose", "tight", "baggy", "boxy", "flattering", "runs small",
             "runs large", "true to size"), ("合身", "版型", "宽松", "紧身", "修身", "显瘦", "显胖")),
    "size": (("size", "sizing", "petite", "xs", "xxs", "xl", "small", "medium", "large", "length", "long", "short"),
             ("尺码", "尺寸", "码数", "偏大", "偏小", "大小", "号码", "个头", "太大", "太小")),
    "quality": (("quality", "well made", "cheaply made", "durable", "sturdy", "flimsy", "seam", "stitching",
                 "construction", "pilling", "pills", "ripped", "tear", "hole"),
                ("质量", "品质", "做工", "质感", "耐用", "结实", "起球", "开线", "破损", "线头", "正品", "假货")),
    "price": (("price", "priced", "pricey", "expensive", "cheap", "value", "worth", "money", "sale", "cost", "deal"),
              ("价格", "价钱", "价位", "性价比", "便宜", "贵", "划算", "实惠", "值得", "不值", "物美价廉")),
    "delivery": (("shipping", "shipped", "delivery", "delivered", "arrived", "package", "packaging"),
                 ("物流", "快递", "发货", "送货", "配送", "包装", "到货", "收到货")),
    "taste": (("taste", "tastes", "flavor", "flavour", "delicious", "sweet", "fresh"),
              ("口感", "味道", "好吃", "难吃", "口味", "新鲜", "甜", "酸", "果肉")),
    "material": (("fabric", "material", "cotton", "linen", "silk", "wool", "polyester", "knit", "lining", "sheer",
                  "soft", "itchy", "scratchy", "stretchy", "thin", "thick"),
                 ("面料", "布料", "材质", "料子", "纯棉", "棉", "手感", "柔软", "透气", "薄", "厚")),
    "colour": (("color", "colors", "colour", "colours", "shade", "print", "pattern", "faded"),
               ("颜色", "色差", "褪色", "掉色", "图案", "色泽")),
    "service": (("service", "customer service", "return", "returned", "exchange", "refund", "staff"),
                ("服务", "客服", "态度", "售后", "退货", "换货", "退款", "前台")),
    "comfort": (("comfortable", "comfy", "comfort", "uncomfortable", "cozy"), ("舒服", "舒适", "不舒服")),
}
EN_CLAUSE = re.compile(r"[.!?;\n]+|\b(?:but|however|although|though)\b")
ZH_CLAUSE = re.compile(r"[。！？；，,!?;\n~～]+|但是|但|可是|不过")


@cache
def _en_patterns() -> dict[str, re.Pattern[str]]:
    return {aspect: re.compile(r"\b(?:" + "|".join(re.escape(k) + "s?" for k in en) + r")\b")
            for aspect, (en, _) in ASPECTS.items()}


def clauses(text: str, lang: str) -> list[str]:
    """The non-empty clauses of ``text`` (normalised: lower case, NFKC)."""
    parts = (EN_CLAUSE if lang == "en" else ZH_CLAUSE).split(normalise(text))
    return [p.strip() for p in parts if p and p.strip()]


def mentions(text: str, lang: str) -> list[tuple[str, str]]:
    """``(aspect, clause)`` for every aspect keyword hit, one per aspect and clause, in text order."""
    out: list[tuple[str, str]] = []
    for clause in clauses(text, lang):
        if lang == "en":
            hits = [a for a, pattern in _en_patterns().items() if pattern.search(clause)]
        else:
            hits = [a for a, (_, zh) in ASPECTS.items() if any(k in clause for k in zh)]
        out.extend((a, clause) for a in hits)
    return out
