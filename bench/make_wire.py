"""Generate a labelled near-duplicate set of wire copy: recurring templated reports and resends.

    python bench/make_wire.py OUTDIR [--seed S] [--families dev|holdout] [--issues N]

Real business wire is full of reports written from one template again and again: a central
bank's weekly balance statement, a bill auction, a money-market forecast, a stake filing, a
convertible offering, jobless claims, dividends, results tables, sports results, weather,
market closes. Two issues of one report share most of their wording and are different
stories: their figures, dates and names differ. The same story is also resent: a
"CORRECTED -" headline with one figure corrected, the dateline a day later, a typo fixed, a
paragraph added, the headline reworded. This writes such families (formats after real
recurring reports; the figures, dates and names are drawn at random) in the layout of
`bench/make_neardup.py`: OUTDIR/seeds/NNNN_<16 hex>.txt and OUTDIR/truth.json, scored by
`bench/neardup_score.py`.

`--families holdout` uses report formats that the `dev` families do not (electricity
output, grain inspections, lottery draws, election tallies, court lists): kept apart so
that the rule is scored once on formats it was not written against.

Deterministic for a seed and family set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
SHORT_MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec"]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
CITIES = [
    "NEW YORK", "WASHINGTON", "LONDON", "CHICAGO", "TOKYO", "FRANKFURT", "PARIS", "SYDNEY",
    "TORONTO", "ZURICH", "HONG KONG", "SINGAPORE", "BOSTON", "DALLAS", "HOUSTON",
]  # fmt: skip
NAME_A = [
    "Allied", "Amber", "Apex", "Atlas", "Beacon", "Bedford", "Carlton", "Cascade", "Crown",
    "Delta", "Dover", "Eagle", "Elgin", "Fairfield", "Falcon", "Granite", "Harbor", "Heritage",
    "Hudson", "Keystone", "Lakeland", "Liberty", "Madison", "Meridian", "Monarch", "Norton",
    "Oakwood", "Pacific", "Pioneer", "Quantum", "Regal", "Ridgeway", "Sterling", "Summit",
    "Tristar", "Union", "Vanguard", "Western", "Whitney", "Zenith",
]  # fmt: skip
NAME_B = [
    "Industries", "Resources", "Financial", "Holdings", "Technologies", "Energy", "Systems",
    "Bancorp", "Electronics", "Petroleum", "Foods", "Communications", "Savings", "Realty",
    "Chemical", "Airlines", "Mining", "Pharmaceuticals", "Steel", "Insurance",
]  # fmt: skip
SUFFIX = ["Inc", "Corp", "Co", "Ltd", "Group Inc", "Corp of America"]
PEOPLE_FIRST = ["Carl", "Harold", "Irwin", "Ronald", "Asher", "Saul", "Victor", "Martin", "Ivan", "Nelson", "Walter", "Gordon"]  # fmt: skip
PEOPLE_LAST = ["Icahn", "Simmons", "Jacobs", "Perelman", "Edelman", "Steinberg", "Posner", "Davis", "Bass", "Pickens", "Goldsmith", "Belzberg"]  # fmt: skip
BANKS = [
    "Morgan Stanley and Co", "Goldman Sachs and Co", "Salomon Brothers Inc", "First Boston Corp",
    "Drexel Burnham Lambert Inc", "Merrill Lynch Capital Markets", "Shearson Lehman Brothers Inc",
    "Kidder Peabody and Co", "PaineWebber Inc", "Smith Barney Harris Upham and Co",
]  # fmt: skip
TEAMS = [
    "Arsenal", "Everton", "Liverpool", "Chelsea", "Tottenham", "Aston Villa", "Newcastle",
    "Leeds", "Sunderland", "Fulham", "Wolves", "Burnley", "Southampton", "Brighton",
]  # fmt: skip
PLAYERS = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright", "Robinson", "Hughes", "Green", "Hall"]  # fmt: skip
WEATHER_CITIES = ["Denver", "Phoenix", "Atlanta", "Seattle", "Miami", "Boston", "Chicago", "Detroit", "Memphis", "Omaha", "Tulsa", "Fargo"]  # fmt: skip


def company(rnd: random.Random) -> str:
    return f"{rnd.choice(NAME_A)} {rnd.choice(NAME_B)} {rnd.choice(SUFFIX)}"


def figure(rnd: random.Random, low: float, high: float, places: int = 1) -> str:
    return f"{rnd.uniform(low, high):,.{places}f}"


def day_of(rnd: random.Random) -> tuple[int, int]:
    return rnd.randrange(12), rnd.randint(1, 27)


def date(month: int, day: int, short: bool = False) -> str:
    return f"{(SHORT_MONTHS if short else MONTHS)[month]} {day}"


@dataclass
class Report:
    """One story as first sent: a headline, a dateline and paragraphs, with the figures and
    names that a correction may change."""

    headline: str
    city: str
    month: int
    day: int
    paragraphs: list[str]
    figures: list[str] = field(default_factory=list)  # strings that occur in the text
    extra: list[str] = field(default_factory=list)  # paragraphs a resend may add

    def text(self, *, dateline_day: int | None = None, prefix: str = "") -> str:
        day = self.day if dateline_day is None else dateline_day
        first = f"{self.city}, {date(self.month, day, short=True)} - {self.paragraphs[0]}"
        return "\n\n".join([prefix + self.headline, first, *self.paragraphs[1:]])


# --- the dev families ------------------------------------------------------------------


def fed_balances(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    a, b = figure(rnd, 2, 9, 3), figure(rnd, 2, 9, 3)
    c, d = figure(rnd, 10, 30, 3), figure(rnd, 10, 30, 3)
    e, f = figure(rnd, 14, 36, 3), figure(rnd, 14, 36, 3)
    verb = "rose" if float(a) > float(b) else "fell"
    return Report(
        f"TREASURY BALANCES AT FED {verb.upper()} ON {date(month, day).upper()}",
        "WASHINGTON",
        month,
        day,
        [
            f"Treasury balances at the Federal Reserve {verb} on {date(month, day)} to {a} "
            f"billion dlrs from {b} billion dlrs the previous business day, the Treasury said "
            "in its latest budget statement.",
            f"Balances in tax and loan note accounts were {c} billion dlrs, compared with "
            f"{d} billion dlrs on the previous business day.",
            f"The Treasury's operating cash balance totaled {e} billion dlrs on "
            f"{date(month, day)}, compared with {f} billion dlrs.",
        ],
        [a, c, e],
        [
            "The Treasury said the figures were preliminary and subject to revision when "
            f"the monthly statement is published, with the next figures due on {rnd.choice(WEEKDAYS)}."
        ],
    )


def bill_auction(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    a, b = figure(rnd, 6, 8, 1), figure(rnd, 6, 8, 1)
    total = f"{float(a) + float(b):.1f}"
    maturing = figure(rnd, 12, 15, 2)
    return Report(
        f"U.S. TO SELL {total} BILLION DLRS IN BILLS",
        "WASHINGTON",
        month,
        day,
        [
            f"The U.S. Treasury said it will sell {total} billion dlrs of three-month and "
            f"six-month bills at its regular auction next week.",
            f"The {date(month, min(28, day + 3))} sale, to be evenly divided between the three- and "
            f"six-month issues, will result in a paydown of {figure(rnd, 0.2, 1.5, 2)} billion "
            f"dlrs as maturing bills total {maturing} billion dlrs.",
            f"The bills will be issued on {date(month, min(28, day + 6))}. The three-month bills "
            f"mature on {date((month + 3) % 12, day)} and the six-month bills on "
            f"{date((month + 6) % 12, day)}.",
            f"Included in the maturing bills are {figure(rnd, 1, 3, 2)} billion dlrs held by "
            "Federal Reserve banks as agents for foreign and international monetary "
            f"authorities and {figure(rnd, 2, 5, 2)} billion dlrs for their own account.",
        ],
        [total, maturing],
        ["Tenders will be received until 1:00 p.m. EDT at the Federal Reserve banks and branches."],
    )


def money_market(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    total = str(rnd.randrange(100, 1500, 50))
    a, b, c = (str(rnd.randrange(50, 900, 5)) for _ in range(3))
    kind = rnd.choice(["shortage", "deficit"])
    return Report(
        f"U.K. MONEY MARKET {kind.upper()} FORECAST AT {total} MLN STG",
        "LONDON",
        month,
        day,
        [
            f"The Bank of England said it forecast a {kind} of around {total} mln stg in the "
            "money market today.",
            "Among the main factors affecting liquidity, it said bills maturing in official "
            f"hands and the treasury bill take-up would drain some {a} mln stg while below "
            f"target bankers' balances would take out around {b} mln.",
            "Partly offsetting these outflows, a fall in the note circulation and exchequer "
            f"transactions would add some {c} mln stg.",
        ],
        [total, a, b, c],
        [
            "The Bank later said it had provided the market with assistance worth "
            f"{rnd.randrange(50, 500, 5)} mln stg in the morning session."
        ],
    )


def stake(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    buyer = f"{rnd.choice(PEOPLE_FIRST)} {rnd.choice(PEOPLE_LAST)}"
    target = company(rnd)
    pct, old = figure(rnd, 5, 15, 1), figure(rnd, 3, 9, 1)
    shares, before = (
        f"{rnd.randrange(300_000, 3_000_000):,}",
        f"{rnd.randrange(100_000, 900_000):,}",
    )
    low, high = figure(rnd, 10, 30, 2), figure(rnd, 30, 45, 2)
    return Report(
        f"{buyer.upper()} RAISES STAKE IN {target.split()[0].upper()} TO {pct} PCT",
        "WASHINGTON",
        month,
        day,
        [
            f"Investor {buyer} told the Securities and Exchange Commission he raised his stake "
            f"in {target} to {shares} shares, or {pct} pct of the total outstanding common "
            f"stock, from {before} shares, or {old} pct.",
            f"In a filing with the SEC, {buyer.split()[1]} said he bought the additional "
            f"shares between {date(month, 1)} and {date(month, day)} at prices ranging from "
            f"{low} dlrs to {high} dlrs a share.",
            f"{buyer.split()[1]} said he bought the stock for investment purposes and may buy "
            f"more shares or sell some or all of his stake in {target.split()[0]} depending "
            "on market conditions.",
        ],
        [pct, shares, low],
        [f"{target.split()[0]} officials were not immediately available for comment."],
    )


def convertible(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    issuer = company(rnd)
    amount, year, rate = (
        str(rnd.randrange(25, 300, 5)),
        str(rnd.randint(2001, 2017)),
        figure(rnd, 5, 9, 2),
    )
    bank, other = rnd.sample(BANKS, 2)
    return Report(
        f"{issuer.upper()} TO OFFER CONVERTIBLE DEBT",
        "NEW YORK",
        month,
        day,
        [
            f"{issuer} said it filed with the Securities and Exchange Commission a "
            f"registration statement covering a {amount} mln dlr issue of convertible "
            f"subordinated debentures due {year}.",
            f"Proceeds will be used to repay bank debt and for general corporate purposes, "
            f"the company said. The debentures carry a coupon of {rate} pct.",
            f"{issuer.split()[0]} named {bank} as lead manager and {other} as co-manager of "
            "the offering.",
        ],
        [amount, rate, year],
        [f"The company has about {rnd.randrange(5, 40)} mln shares outstanding, it said."],
    )


def jobless(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    claims, change = f"{rnd.randrange(280, 420) * 1000:,}", f"{rnd.randrange(2, 40) * 1000:,}"
    insured = f"{figure(rnd, 2, 3.5, 3)}"
    verb = rnd.choice(["rose", "fell"])
    return Report(
        f"U.S. JOBLESS CLAIMS {verb.upper()} {change} IN WEEK",
        "WASHINGTON",
        month,
        day,
        [
            f"New applications for unemployment insurance benefits {verb} {change} to a "
            f"seasonally adjusted {claims} in the week ended {date(month, day)}, the Labor "
            "Department said.",
            f"In the previous week, applications totaled a revised {rnd.randrange(280, 420) * 1000:,}.",
            f"The number of people actually receiving benefits under regular state programs "
            f"totaled {insured} million in the week ended {date(month, max(1, day - 7))}, the "
            f"latest period for which that figure was available.",
        ],
        [change, claims, insured],
        [
            f"The four-week moving average was {rnd.randrange(280, 420) * 1000:,}, the department said."
        ],
    )


def dividend(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    issuer = company(rnd)
    cts, prior = str(rnd.randrange(5, 80)), str(rnd.randrange(5, 80))
    return Report(
        f"{issuer.upper()} SETS QUARTERLY DIVIDEND",
        rnd.choice(CITIES),
        month,
        day,
        [
            f"{issuer} said its board declared a regular quarterly dividend of {cts} cts per "
            f"share, compared with {prior} cts paid in the previous quarter.",
            f"The dividend is payable {date((month + 1) % 12, rnd.randint(1, 28))} to "
            f"shareholders of record {date(month, min(28, day + 10))}, the company said.",
        ],
        [cts, prior],
        [
            f"{issuer.split()[0]} said it has raised its dividend in each of the past {rnd.randrange(3, 20)} years."
        ],
    )


def results(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    issuer = company(rnd)
    shr, shr0 = str(rnd.randrange(5, 150)), str(rnd.randrange(5, 150))
    net, net0 = figure(rnd, 1, 90, 1), figure(rnd, 1, 90, 1)
    rev, rev0 = figure(rnd, 50, 900, 1), figure(rnd, 50, 900, 1)
    quarter = rnd.choice(["first", "second", "third", "fourth"])
    return Report(
        f"{issuer.upper()} {quarter.upper()} QUARTER NET",
        rnd.choice(CITIES),
        month,
        day,
        [
            f"{issuer} said its {quarter} quarter net income was {net} mln dlrs, or {shr} cts "
            f"a share, compared with {net0} mln dlrs, or {shr0} cts a share, a year earlier.",
            f"Revenues for the quarter were {rev} mln dlrs, against {rev0} mln dlrs in the "
            "same quarter of the previous year, the company said.",
            f"{issuer.split()[0]} said results for the year-ago quarter had been restated to "
            "reflect discontinued operations and an accounting change.",
        ],
        [net, shr, rev],
        [
            f"The company said it expects full-year earnings to be in line with analysts' estimates of about {rnd.randrange(1, 5)}.{rnd.randrange(10, 99)} dlrs a share."
        ],
    )


def football(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    home, away = rnd.sample(TEAMS, 2)
    hg, ag = rnd.randint(0, 4), rnd.randint(0, 4)
    scorers = ", ".join(f"{rnd.choice(PLAYERS)} {rnd.randint(2, 89)}" for _ in range(max(1, hg)))
    crowd = f"{rnd.randrange(12_000, 60_000):,}"
    return Report(
        f"SOCCER - ENGLISH PREMIER LEAGUE RESULT: {home.upper()} {hg} {away.upper()} {ag}",
        "LONDON",
        month,
        day,
        [
            f"Result of an English Premier League soccer match played on {rnd.choice(WEEKDAYS)}: "
            f"{home} {hg} {away} {ag}.",
            f"Scorers: {home} - {scorers}. Half-time score {max(0, hg - 1)}-{max(0, ag - 1)}. "
            f"Attendance: {crowd}.",
            f"The result leaves {home} in {rnd.randint(1, 20)}th place in the league table with "
            f"{rnd.randint(10, 70)} points from {rnd.randint(10, 38)} matches.",
        ],
        [crowd],
        [f"{away} play their next match at home on {rnd.choice(WEEKDAYS)}."],
    )


def weather(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    hot, cold = rnd.sample(WEATHER_CITIES, 2)
    high, low = str(rnd.randint(60, 110)), str(rnd.randint(-20, 40))
    return Report(
        f"U.S. WEATHER: HIGH OF {high} IN {hot.upper()}",
        "NEW YORK",
        month,
        day,
        [
            f"The highest temperature reported in the contiguous United States on "
            f"{date(month, day)} was {high} degrees Fahrenheit at {hot}, the National Weather "
            "Service said.",
            f"The lowest temperature was {low} degrees at {cold}. Rain and showers were "
            f"forecast for the {rnd.choice(['Northeast', 'Midwest', 'South', 'Northwest'])} "
            f"with up to {figure(rnd, 0.2, 3, 1)} inches possible in places.",
            "Forecasters said a cold front moving east would bring cooler air behind it over "
            "the next two days, with temperatures near normal for the time of year.",
        ],
        [high, low],
        ["Frost advisories were posted for several counties in the northern plains."],
    )


def market_close(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    points, close = figure(rnd, 1, 60, 2), figure(rnd, 1700, 2500, 2)
    sp, volume = figure(rnd, 0.1, 8, 2), str(rnd.randrange(120, 260))
    up, down = str(rnd.randrange(500, 1200)), str(rnd.randrange(400, 1100))
    verb = rnd.choice(["rose", "fell"])
    return Report(
        f"WALL STREET STOCKS {'CLOSE HIGHER' if verb == 'rose' else 'CLOSE LOWER'}",
        "NEW YORK",
        month,
        day,
        [
            f"The Dow Jones industrial average {verb} {points} points to close at {close} on "
            f"{rnd.choice(WEEKDAYS)}, in active trading, brokers said.",
            f"The broader Standard and Poor's 500 index {verb} {sp} points. Volume on the New "
            f"York Stock Exchange totaled {volume} million shares.",
            f"Advancing issues outnumbered declining ones {up} to {down}, with "
            f"{rnd.randrange(300, 600)} issues unchanged.",
        ],
        [points, close, volume],
        [
            f"Analysts said program trading accounted for about {rnd.randrange(10, 30)} pct of volume."
        ],
    )


DEV_FAMILIES: list[Callable[[random.Random], Report]] = [
    fed_balances, bill_auction, money_market, stake, convertible, jobless, dividend, results,
    football, weather, market_close,
]  # fmt: skip

# --- the held-out families: other report formats ----------------------------------------


def electricity(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    out, prior = figure(rnd, 40_000, 70_000, 0), figure(rnd, 40_000, 70_000, 0)
    pct = figure(rnd, 0.1, 9, 1)
    return Report(
        f"U.S. POWER OUTPUT {'UP' if out > prior else 'DOWN'} {pct} PCT IN WEEK",
        "WASHINGTON",
        month,
        day,
        [
            f"Electric utility output in the United States in the week ended {date(month, day)} "
            f"was {out} million kilowatt-hours, {pct} pct from {prior} million in the same "
            "week a year earlier, the Edison Electric Institute said.",
            f"Output in the 52 weeks ended {date(month, day)} totaled "
            f"{figure(rnd, 2_400_000, 2_700_000, 0)} million kilowatt-hours, the institute said.",
        ],
        [out, pct],
        ["The institute said the figures were subject to revision."],
    )


def grain(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    wheat, corn, soy = (f"{rnd.randrange(5_000, 40_000):,}" for _ in range(3))
    return Report(
        "U.S. GRAIN INSPECTIONS FOR EXPORT",
        "WASHINGTON",
        month,
        day,
        [
            f"Inspections of U.S. grain for export in the week ended {date(month, day)} "
            f"totaled {wheat} thousand bushels of wheat, {corn} thousand bushels of corn and "
            f"{soy} thousand bushels of soybeans, the Agriculture Department said.",
            f"That compared with {rnd.randrange(5_000, 40_000):,} thousand bushels of wheat, "
            f"{rnd.randrange(5_000, 40_000):,} of corn and {rnd.randrange(5_000, 40_000):,} of "
            "soybeans in the previous week.",
        ],
        [wheat, corn],
        ["Cumulative inspections for the marketing year were running ahead of last year's pace."],
    )


def lottery(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    balls = " ".join(str(n) for n in sorted(rnd.sample(range(1, 50), 6)))
    jackpot = str(rnd.randrange(2, 60))
    state = rnd.choice(["New York", "California", "Illinois", "Texas", "Florida"])
    return Report(
        f"{state.upper()} LOTTO NUMBERS DRAWN",
        rnd.choice(CITIES),
        month,
        day,
        [
            f"The winning numbers in the {state} Lotto drawing on {rnd.choice(WEEKDAYS)} "
            f"night were {balls}, lottery officials said.",
            f"The jackpot for the drawing was an estimated {jackpot} million dlrs. Officials "
            f"said {rnd.randrange(0, 4)} tickets matched all six numbers.",
        ],
        [jackpot],
        ["Players have one year from the date of the drawing to claim prizes."],
    )


def election(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    district = f"{rnd.choice(['First', 'Second', 'Third', 'Fourth', 'Fifth'])} District"
    a, b = (
        f"{rnd.choice(PEOPLE_FIRST)} {rnd.choice(PEOPLE_LAST)}",
        f"{rnd.choice(PEOPLE_FIRST)} {rnd.choice(PEOPLE_LAST)}",
    )
    va, vb = f"{rnd.randrange(20_000, 90_000):,}", f"{rnd.randrange(20_000, 90_000):,}"
    pct = str(rnd.randint(60, 100))
    return Report(
        f"ELECTION RESULTS: {district.upper()}",
        rnd.choice(CITIES),
        month,
        day,
        [
            f"With {pct} pct of precincts reporting in the {district} race, {a} had {va} "
            f"votes and {b} had {vb} votes, according to unofficial returns.",
            f"Turnout was put at {rnd.randint(25, 70)} pct of registered voters, election "
            "officials said, and the result is to be certified next week.",
        ],
        [va, pct],
        ["Absentee ballots were still being counted in two counties."],
    )


def court_list(rnd: random.Random) -> Report:
    month, day = day_of(rnd)
    cases = "; ".join(
        f"{company(rnd).split()[0]} v {company(rnd).split()[0]} (No. {rnd.randrange(100, 999)})"
        for _ in range(3)
    )
    return Report(
        "SUPREME COURT ORDER LIST",
        "WASHINGTON",
        month,
        day,
        [
            f"The Supreme Court on {rnd.choice(WEEKDAYS)} agreed to hear the following cases, "
            f"to be argued in its next term: {cases}.",
            f"The court declined to hear {rnd.randrange(20, 120)} other appeals, the clerk's "
            "office said, without comment.",
        ],
        [],
        ["Decisions in the cases are expected by the end of June next year."],
    )


HOLDOUT_FAMILIES: list[Callable[[random.Random], Report]] = [
    electricity, grain, lottery, election, court_list,
]  # fmt: skip

# --- resends ----------------------------------------------------------------------------


def _correct(rnd: random.Random, text: str, report: Report) -> str:
    """One figure corrected everywhere it occurs."""
    if not report.figures:
        return text
    old = rnd.choice(report.figures)
    digits = [i for i, ch in enumerate(old) if ch.isdigit()]
    i = rnd.choice(digits)
    new = old[:i] + str((int(old[i]) + rnd.randint(1, 8)) % 10) + old[i + 1 :]
    return re.sub(rf"(?<![\d,.]){re.escape(old)}(?![,.]?\d)", new, text)


def _typo(rnd: random.Random, text: str) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
    i = rnd.choice(candidates)
    w = words[i]
    j = rnd.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


EDITS = [
    "corrected-figure",
    "dateline-moved",
    "typo",
    "paragraph-added",
    "headline-reworded",
    "corrected-dateline",
    "reprint-credit",
]


def resend(rnd: random.Random, report: Report, edit: str) -> str:
    """The story sent again, with one kind of wire edit."""
    if edit == "corrected-figure":
        text = _correct(rnd, report.text(prefix="CORRECTED - "), report)
        return text + "\n\n(Corrects figure in paragraph two of story sent earlier.)"
    if edit == "dateline-moved":
        return report.text(dateline_day=report.day + 1)
    if edit == "typo":
        first, rest = report.text().split("\n\n", 1)
        return first + "\n\n" + _typo(rnd, rest)
    if edit == "paragraph-added":
        return report.text() + "\n\n" + rnd.choice(report.extra)
    if edit == "headline-reworded":
        text = report.text()
        headline, rest = text.split("\n\n", 1)
        return (
            headline.replace(" IN ", " FOR ").replace(" TO ", " - ") + " - UPDATE" + "\n\n" + rest
        )
    if edit == "corrected-dateline":
        return _correct(
            rnd, report.text(dateline_day=report.day + 1, prefix="CORRECTED - "), report
        )
    if edit == "reprint-credit":
        text = report.text().replace(" - ", " (Reuters) - ", 1)
        return (
            text + "\n\nReporting by " + rnd.choice(PLAYERS) + "; Editing by " + rnd.choice(PLAYERS)
        )
    raise ValueError(edit)


def build(seed: int, families: str, issues: int) -> list[tuple[int, str, str, str | None, str]]:
    """Rows (story, kind, text, parent key, key) of every family's issues and resends."""
    rnd = random.Random(f"wire-{seed}-{families}")
    chosen = DEV_FAMILIES if families == "dev" else HOLDOUT_FAMILIES
    rows: list[tuple[int, str, str, str | None, str]] = []
    story = 0
    for family in chosen:
        for issue in range(issues):
            report = family(rnd)
            key = f"{family.__name__}-{issue}"
            year = 1987 + rnd.randint(0, 1)
            header = f" date {year}-{report.month + 1:02d}-{report.day:02d} "
            rows.append((story, f"{family.__name__}:original", header + report.text(), None, key))
            for n, edit in enumerate(rnd.sample(EDITS, rnd.choice([0, 0, 1, 1, 2]))):
                rows.append(
                    (
                        story,
                        f"{family.__name__}:{edit}",
                        header + resend(rnd, report, edit),
                        key,
                        f"{key}-{n}",
                    )
                )
            story += 1
    return rows


def write(
    outdir: str, rows: list[tuple[int, str, str, str | None, str]], *, seed: int, families: str
) -> None:
    rnd = random.Random(f"order-{seed}-{families}")
    rows = rows[:]
    rnd.shuffle(rows)
    seeds = os.path.join(outdir, "seeds")
    os.makedirs(seeds, exist_ok=True)
    for old in os.listdir(seeds):
        os.remove(os.path.join(seeds, old))
    files: dict[str, int] = {}
    kinds: dict[str, str] = {}
    names: dict[str, str] = {}
    for i, (_, _, _, _, key) in enumerate(rows):
        names[key] = (
            f"{i:04d}_{hashlib.sha1(f'{seed}-{families}-{key}'.encode()).hexdigest()[:16]}.txt"
        )
    parents: dict[str, str] = {}
    for story, kind, text, parent, key in rows:
        with open(os.path.join(seeds, names[key]), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        files[names[key]] = story
        kinds[names[key]] = kind
        if parent is not None:
            parents[names[key]] = names[parent]
    truth = {
        "files": dict(sorted(files.items())),
        "kind": dict(sorted(kinds.items())),
        "parent": dict(sorted(parents.items())),
        "meta": {
            "generator": "bench/make_wire.py",
            "seed": seed,
            "families": families,
            "stories": len(set(files.values())),
            "files": len(files),
        },
    }
    with open(os.path.join(outdir, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", choices=["dev", "holdout"], default="dev")
    ap.add_argument("--issues", type=int, default=25, help="issues of each report family")
    args = ap.parse_args()
    write(
        args.outdir,
        build(args.seed, args.families, args.issues),
        seed=args.seed,
        families=args.families,
    )


if __name__ == "__main__":
    main()
