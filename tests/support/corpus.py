"""Where the test corpora live, and two small hand-written documents used by the pipeline tests."""

from __future__ import annotations

from indexer.config import PROJECT_ROOT

SEEDS_DIR = PROJECT_ROOT / "seeds"
CORPUS_DIR = PROJECT_ROOT / "data" / "corpus"

SPEECH = """关于学习全会精神的发言
一、深刻认识两个确立的决定性意义
全会精神内涵丰富。我们要深刻认识“两个确立”的决定性意义，增强“四个意识”。
二、抓好宣传工作
一是全面准确宣传全会精神。要精心组织开展理论学习，推动全会精神进机关、进企业、进农村、进校园、进社区，让广大干部群众读原文、学原理。
二是进一步筑牢意识形态安全屏障。落实意识形态工作责任制，加强网络舆情管控，守住阵地、管好导向，坚决防范化解意识形态领域风险。
"""

REPORT = """2024年政府工作报告
一、过去一年工作回顾
国内生产总值超过126万亿元，增长5.2%。城镇新增就业1244万人。
二、今年主要预期目标
国内生产总值增长5%左右，城镇调查失业率5.5%左右，居民消费价格涨幅3%左右。
"""
