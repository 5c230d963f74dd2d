"""A small hand-built Chinese sentiment lexicon for shopping reviews (written for this project, Apache-2.0 like
the code): polar words, negators that flip the word after them, and degree adverbs that scale it."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


POSITIVE = _words("""
好 很好 不错 挺好 满意 喜欢 推荐 值得 划算 实惠 便宜 超值 物美价廉 性价比高 舒服 舒适 合适 合身 漂亮 好看 美观 精致
流畅 清晰 快 很快 迅速 及时 方便 好用 实用 耐用 结实 正品 完美 优秀 出色 棒 赞 给力 好评 五星 满分 惊喜 开心 高兴
感谢 谢谢 热情 周到 耐心 贴心 专业 干净 整洁 新鲜 好吃 美味 可口 香 甜 嫩 喜爱 爱不释手 支持 回购 值 超赞 精美 大方
时尚 柔软 细腻 顺滑 安静 稳定 省电 给力 温馨 安全 准确 完好 齐全 丰富 精彩 感人 经典 受益 有趣 好看 清楚 不愧 放心
""")

NEGATIVE = _words("""
差 很差 太差 不好 糟糕 失望 后悔 垃圾 坑 骗 骗人 假货 假 劣质 次品 退货 退款 投诉 差评 难用 难看 难吃 难闻 慢 太慢
破 破损 坏 坏了 损坏 故障 问题 毛病 卡 死机 发热 发烫 噪音 吵 脏 旧 臭 异味 刺鼻 贵 太贵 不值 浪费 麻烦 敷衍 态度差
恶心 无语 郁闷 生气 气愤 上当 忽悠 欺骗 不行 不满 不满意 一般 凑合 将就 缩水 掉色 起球 褪色 开线 变形 漏 漏水 粗糙
硬 小气 冷淡 不理 拖 拖延 延迟 错 错误 缺 少 没货 断 闪退 耗电 模糊 失败 可惜 遗憾 别买 不推荐 不合适 不舒服 偏小 偏大
""")

NEGATORS = ("不", "没", "没有", "无", "别", "未", "非", "不太", "不是", "并不")
DEGREE = {"很": 1.5, "非常": 2.0, "太": 2.0, "特别": 2.0, "超": 2.0, "超级": 2.0, "十分": 2.0, "极": 2.0, "最": 2.0,
          "挺": 1.3, "比较": 1.2, "有点": 0.7, "有些": 0.7, "稍": 0.7, "略": 0.7, "真": 1.5, "真的": 1.5}
LONGEST = max(len(w) for w in POSITIVE | NEGATIVE | set(NEGATORS) | set(DEGREE))


def polarities(text: str) -> list[float]:
    """Signed weights of the lexicon words in ``text``, longest match first, left to right; a negator within the
    two tokens before a word flips it, a degree adverb there scales it."""
    out: list[float] = []
    recent: list[str] = []  # the last two matched modifiers
    i = 0
    while i < len(text):
        for n in range(min(LONGEST, len(text) - i), 0, -1):
            piece = text[i:i + n]
            if piece in POSITIVE or piece in NEGATIVE:
                w = 1.0 if piece in POSITIVE else -1.0
                for mod in recent:
                    w = -w if mod in NEGATORS else w * DEGREE.get(mod, 1.0)
                out.append(w)
                recent = []
                i += n
                break
            if piece in DEGREE or piece in NEGATORS:
                recent = [*recent[-1:], piece]
                i += n
                break
        else:
            if not text[i].isalnum():
                recent = []  # punctuation ends a clause: its modifiers do not carry over
            i += 1
    return out
