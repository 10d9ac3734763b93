"""Build the policy-term dictionary that keeps fixed political terms whole in jieba.

Sources: a curated list of terms every policy reader knows, plus the terms the corpus
itself puts in quotation marks (“两个确立”, “放管服” ...) at least twice. The output is
a plain jieba user dictionary (`term freq`), committed as data/dict/policy_terms.txt
so that indexing never depends on the corpus being present.

    python -m indexer.tools.terms [CORPUS_DIR ...] [--out data/dict/policy_terms.txt]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from indexer.config import DATA_DIR, PROJECT_ROOT, Settings

CURATED = """
两个确立 两个维护 四个意识 四个自信 四个全面 五位一体 十个坚持 国之大者 两个结合 两个务必 两个一百年 两个毫不动摇
中国式现代化 高质量发展 新发展理念 新发展格局 供给侧结构性改革 乡村振兴 乡村振兴战略 融媒体 县级融媒体中心
意识形态 意识形态工作责任制 全过程人民民主 共同富裕 人类命运共同体 一带一路 一国两制 港人治港 澳人治澳 高度自治
全面从严治党 中央八项规定 四风 三严三实 两学一做 不忘初心、牢记使命 党史学习教育 主题教育 以人民为中心
稳中求进 六稳 六保 放管服 营商环境 双循环 碳达峰 碳中和 双碳 专精特新 新质生产力 数字经济 实体经济
脱贫攻坚 精准扶贫 全面建成小康社会 小康社会 社会主义核心价值观 新时代文明实践中心 文明城市 宣传思想工作
宣传思想文化工作 网络强国 文化强国 科技强国 制造强国 教育强国 人才强国 健康中国 美丽中国 平安中国 法治中国
三农 菜篮子 米袋子 低保 五险一金 放水养鱼 僵尸企业 三去一降一补 去产能 去库存 去杠杆 降成本 补短板
国内生产总值 居民消费价格 城镇调查失业率 城镇新增就业 赤字率 专项债券 超长期特别国债 地方政府专项债券
""".split()

QUOTED_RE = re.compile(r"“([^“”\s，,。；：:、]{2,8})”")
NUMERAL_RE = re.compile(r"[0-9一二三四五六七八九十百千零]+")
CURATED_FREQ = 50000  # high enough to win over jieba's own splits
QUOTED_FREQ = 20000


def quoted_terms(texts: list[str], min_count: int = 2) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(QUOTED_RE.findall(text))
    # Bare numerals (“十五”, “七五”: plan numbers) would break 二十五 apart, so they stay out.
    return Counter({t: c for t, c in counts.items() if c >= min_count and not NUMERAL_RE.fullmatch(t)})


def build_terms(corpus_dirs: list[Path]) -> dict[str, int]:
    texts = [p.read_text(encoding="utf-8", errors="replace") for d in corpus_dirs for p in sorted(d.rglob("*.txt"))]
    terms = {t: QUOTED_FREQ for t in quoted_terms(texts)}
    terms.update({t: CURATED_FREQ for t in CURATED if "、" not in t})
    return dict(sorted(terms.items()))


def write_terms(terms: dict[str, int], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{t} {f}\n" for t, f in terms.items()), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.terms", description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", nargs="*", type=Path, default=[DATA_DIR / "corpus", PROJECT_ROOT / "seeds"])
    p.add_argument("--out", type=Path, help="default: Settings.terms_file (data/dict/policy_terms.txt)")
    args = p.parse_args(argv)
    args.out = args.out or Settings.from_env().terms_file
    terms = build_terms(args.corpus)
    write_terms(terms, args.out)
    print(f"{len(terms)} terms written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
