"""The NARRA_FORGE workload model: pipelines of ten agents, their models, tokens and faults.

One model, two drivers: ``tools/demo/simulator.py`` runs it in (compressed) wall time and serves
``/metrics``; ``tools/demo/backfill.py`` runs it on a virtual clock to write weeks of history. Both
feed the real ``MetricsCollector``; nothing here touches prometheus-client directly.

Time is *simulated seconds* throughout: ``Env.sleep(s)`` waits ``s`` simulated seconds (``s /
speed`` of wall time when live, nothing when backfilling) and the collector's clock runs in the
same simulated seconds, so a novel's pipeline records twenty minutes even when it ran for twenty
seconds. Arrivals, on the other hand, are counted in *wall* time: ``pipelines_per_hour`` is the
platform's real load as Prometheus sees it, which keeps rates, spend per hour and ratios on the
dashboards and against the alert thresholds realistic whatever the speed factor (compressing the
arrivals too would multiply the spend per hour by the speed factor). What the compression does
change is how many pipelines run at once (``jobs_active``).

Briefs arrive steadily, not as a Poisson process: the gap between two is the mean gap (a minute
at 60 an hour) times a factor drawn uniformly from 0.5 to 1.5. A Poisson process at 60 an hour
leaves a few minutes without any finished pipeline every hour or so (seed 1's six-hour history
ends with six such minutes), and every ratio and quantile over ``[5m]`` then reads 0/0: the
guide's queries answer nothing and the dashboards go blank in a demo that is working. Steady
arrivals keep every five-minute window fed, in the backfilled history and live alike.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from narra_forge.monitoring.catalogue import AGENT_IDS

#: Each agent's usual model: the cheap model for parsing and bookkeeping, the strong one for
#: world building and prose.
AGENT_MODELS: dict[str, str] = {
    "a01_brief_interpreter": "gpt-4o-mini",
    "a02_world_architect": "gpt-4.1-mini",
    "a03_character_architect": "gpt-4.1-mini",
    "a04_structure_designer": "gpt-4o-mini",
    "a05_segment_planner": "gpt-4o-mini",
    "a06_sequential_generator": "gpt-4o",
    "a07_coherence_validator": "o4-mini",  # a reasoning model: reasoning tokens are billed
    "a08_language_stylizer": "gpt-4o-mini",
    "a09_editorial_reviewer": "gpt-4o-mini",
    "a10_output_processor": "gpt-4o-mini",
}

#: A fine-tuned formatter that a10 tries in the ``unpriced_model`` scenario: it is not in the
#: pricing table yet, which is what ``narra_forge_unpriced_tokens_total`` and the
#: UnpricedTokensSpent alert are there to reveal.
CANARY_MODEL = "ft:gpt-4o-mini:narra-forge:formatter:v1"
CANARY_AGENT = "a10_output_processor"

#: Output tokens per second of each model (drives the API call duration).
MODEL_SPEED: dict[str, float] = {
    "gpt-4o": 40.0,
    "gpt-4.1-mini": 70.0,
    "gpt-4o-mini": 90.0,
    "o4-mini": 60.0,
    CANARY_MODEL: 90.0,
}

#: Agents whose long output is streamed: their calls observe time to first token.
STREAMED = frozenset({"a06_sequential_generator", "a08_language_stylizer"})

#: Reasoning tokens of one call of a reasoning model's agent: part of its completion tokens,
#: billed with them (``usage.completion_tokens_details.reasoning_tokens``).
REASONING_TOKENS: dict[str, int] = {"a07_coherence_validator": 600}

#: Share of a call's prompt served from OpenAI's prompt cache (a stable prefix: system prompt,
#: brief, plan). a01 reads a fresh brief: nothing cached.
CACHED_SHARE: dict[str, float] = {"a01_brief_interpreter": 0.0, "a06_sequential_generator": 0.7}
DEFAULT_CACHED_SHARE = 0.5

GENRES: tuple[str, ...] = (
    "fantasy",
    "science_fiction",
    "mystery",
    "romance",
    "horror",
    "thriller",
    "literary",
    "historical",
)


@dataclass(frozen=True)
class Production:
    """How big one kind of narrative is: segments written by a06, share of the traffic."""

    name: str
    share: float
    segments: int
    segment_tokens: int  # completion tokens of one a06 segment


PRODUCTIONS: tuple[Production, ...] = (
    Production("short_story", 0.7, segments=3, segment_tokens=600),
    Production("novella", 0.25, segments=8, segment_tokens=700),
    Production("novel", 0.05, segments=20, segment_tokens=800),
)

#: (prompt tokens, completion tokens) of one call for every agent but a06 and a08, per segment
#: for a06/a08 (which work segment by segment).
AGENT_TOKENS: dict[str, tuple[int, int]] = {
    "a01_brief_interpreter": (900, 300),
    "a02_world_architect": (1500, 900),
    "a03_character_architect": (1800, 900),
    "a04_structure_designer": (2200, 700),
    "a05_segment_planner": (2500, 600),
    "a06_sequential_generator": (3000, 0),  # completion: the production's segment_tokens
    "a07_coherence_validator": (4000, 250),
    "a08_language_stylizer": (1400, 0),  # completion: rewrites the segment
    "a09_editorial_reviewer": (5000, 400),
    "a10_output_processor": (1200, 150),
}

PER_SEGMENT = frozenset({"a06_sequential_generator", "a08_language_stylizer"})


class SimulatedAPIError(Exception):
    """Base of the simulated OpenAI errors (named and coded like the ``openai`` package's)."""

    status_code: int | None = None


class RateLimitError(SimulatedAPIError):
    status_code = 429


class APITimeoutError(SimulatedAPIError):
    pass


class InternalServerError(SimulatedAPIError):
    status_code = 500


class InvalidOutputError(ValueError):
    """An agent's output failed validation (the model answered, but not usefully)."""


API_ERRORS: dict[str, type[SimulatedAPIError]] = {
    "rate_limit": RateLimitError,
    "timeout": APITimeoutError,
    "server_error": InternalServerError,
}


@dataclass(frozen=True)
class Scenario:
    """What goes wrong, and how much. The defaults are the healthy platform."""

    name: str
    description: str
    fires: tuple[str, ...] = ()
    #: Healthy: every Nth API call fails once (a rate limit) and its retry succeeds. A cadence,
    #: not a coin: a small window never holds an unlucky cluster that would cross a threshold.
    error_every_nth_call: int = 300
    #: Probability that one API call fails, and the error types drawn (uniformly).
    api_error_probability: float = 0.0
    api_error_types: tuple[str, ...] = ("rate_limit", "timeout", "server_error")
    #: Probability that a pipeline fails in a late agent with invalid output (no retry helps).
    pipeline_failure_probability: float = 0.0
    #: Every Nth pipeline fails that way (0: none). A cadence, like error_every_nth_call: a
    #: slow leak must stay slow in every window, never bunch up into a burst that pages.
    pipeline_fail_every_nth: int = 0
    failing_agents: tuple[str, ...] = ("a07_coherence_validator", "a09_editorial_reviewer")
    #: Multiplies a06's prompt tokens (runaway context: the whole book resent every segment).
    a06_prompt_factor: float = 1.0
    #: Seconds every API call waits in OpenAI's queue before it starts (a saturated tier).
    queue_seconds: float = 0.0
    #: Centre of the coherence score; the others sit a little above it.
    coherence_centre: float = 0.90
    #: a10 runs on the unpriced ``CANARY_MODEL`` in one pipeline out of this many (0: never).
    canary_every: int = 0


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "healthy",
            "Normal traffic: scores around 0.9, a rate limit every 300 calls, retried.",
        ),
        Scenario(
            "pipeline_failures",
            "Half of the pipelines fail: a07 or a09 rejects the output (invalid_output).",
            fires=("PipelineErrorRateHigh", "AgentErrorRateHigh"),
            pipeline_failure_probability=0.50,
        ),
        Scenario(
            "api_errors",
            "15% of OpenAI calls fail (rate limits, timeouts, 500s) and are retried.",
            fires=("APIErrorRateHigh", "APIRateLimited"),
            api_error_probability=0.15,
        ),
        Scenario(
            "cost_spike",
            "a06 resends the whole manuscript with every segment: 40x its prompt tokens.",
            fires=("CostBudgetWarning", "CostDailyBudgetAtRisk"),
            a06_prompt_factor=40.0,
        ),
        Scenario(
            "slow_pipelines",
            "Every OpenAI call queues 150 s first: even short stories run past 30 minutes.",
            fires=("PipelineDurationHigh",),
            queue_seconds=150.0,
        ),
        Scenario(
            "slow_burn",
            "Every 40th pipeline fails (2.5%): under the 10% threshold alert, but 2.5 times the "
            "pipeline-success SLO's 1% budget, a ticket without a page.",
            fires=("PipelineSuccessBudgetBurn",),
            pipeline_fail_every_nth=40,
        ),
        Scenario(
            "quality_drop",
            "The validators score coherence around 0.75 (floor 0.85).",
            fires=("QualityScoreLow",),
            coherence_centre=0.75,
        ),
        Scenario(
            "unpriced_model",
            "a10 tries a fine-tuned model missing from the pricing table on one pipeline in "
            "three: its tokens are spent, its cost reads $0.",
            fires=("UnpricedTokensSpent",),
            canary_every=3,
        ),
    )
}


class NullLog:
    """A logger that writes nothing, for drivers whose log lines would be noise or gigabytes
    (days of backfill, benchmarks). The simulator passes a real structlog logger instead."""

    def bind(self, **_: object) -> NullLog:
        return self

    def _ignore(self, *_: object, **__: object) -> None:
        return None

    debug = info = warning = error = _ignore


@dataclass
class Env:
    """What the model needs from its driver."""

    collector: Any  # narra_forge.monitoring.MetricsCollector
    sleep: Callable[[float], Awaitable[None]]  # simulated seconds
    log: Any  # a structlog logger
    scenario: Scenario
    seed: int = 0
    #: Simulated seconds per wall second (1 when backfilling: the virtual clock is the time).
    speed: float = 1.0
    api_calls: itertools.count = field(default_factory=itertools.count)


def pick_production(rng: random.Random) -> Production:
    return rng.choices(PRODUCTIONS, weights=[p.share for p in PRODUCTIONS])[0]


def quality_scores(rng: random.Random, scenario: Scenario) -> dict[str, float]:
    """Bounded draws (uniform around a centre), so a healthy run never dips under the floor."""
    centre = scenario.coherence_centre
    return {
        "coherence": centre + rng.uniform(-0.04, 0.04),
        "logic": min(1.0, centre + 0.02 + rng.uniform(-0.04, 0.04)),
        "psychology": min(1.0, centre - 0.03 + rng.uniform(-0.04, 0.04)),
        "temporal": min(1.0, centre + 0.04 + rng.uniform(-0.03, 0.03)),
    }


async def api_call(
    env: Env,
    rng: random.Random,
    agent_id: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    max_attempts: int = 4,
) -> None:
    """One logical OpenAI request: attempts until success, backing off between them."""
    scenario = env.scenario
    for attempt in range(1, max_attempts + 1):
        number = next(env.api_calls) + 1
        error: type[SimulatedAPIError] | None = None
        if scenario.error_every_nth_call and number % scenario.error_every_nth_call == 0:
            error = RateLimitError
        elif rng.random() < scenario.api_error_probability:
            error = API_ERRORS[rng.choice(scenario.api_error_types)]
        generated = completion_tokens + REASONING_TOKENS.get(agent_id, 0)
        seconds = 0.4 + generated / MODEL_SPEED[model] * rng.uniform(0.8, 1.25)
        seconds += scenario.queue_seconds
        try:
            async with env.collector.track_api_call(model, agent_id):
                await env.sleep(seconds if error is None else min(seconds, 2.0))
                if error is not None:
                    raise error(f"simulated {error.__name__} from {model}")
        except SimulatedAPIError as failure:
            reason = next(k for k, v in API_ERRORS.items() if isinstance(failure, v))
            env.log.warning(
                "api_call_failed",
                agent_id=agent_id,
                model=model,
                error_type=reason,
                retry_attempt=attempt,
            )
            if attempt == max_attempts:
                raise
            env.collector.record_retry(agent_id, reason)
            await env.sleep(2.0**attempt)  # exponential backoff, as the openai client does
            continue
        if agent_id in STREAMED:
            # The first token waits behind OpenAI's queue like the rest of the call.
            first_token = rng.uniform(0.25, 0.6) + scenario.queue_seconds
            env.collector.record_time_to_first_token(model, first_token)
        env.collector.record_openai_usage(
            model, agent_id, usage(agent_id, prompt_tokens, completion_tokens)
        )
        return


def usage(agent_id: str, prompt_tokens: int, completion_tokens: int) -> dict[str, object]:
    """The usage object of one response, in the OpenAI SDK's dict form (CompletionUsage)."""
    cached = int(prompt_tokens * CACHED_SHARE.get(agent_id, DEFAULT_CACHED_SHARE))
    reasoning = REASONING_TOKENS.get(agent_id, 0)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens + reasoning,
        "total_tokens": prompt_tokens + completion_tokens + reasoning,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


async def run_agent(
    env: Env, rng: random.Random, agent_id: str, production: Production, fail: bool, model: str
) -> None:
    scenario = env.scenario
    prompt, completion = AGENT_TOKENS[agent_id]
    async with env.collector.track_agent(agent_id, model):
        env.log.info("agent_execution_started", agent_id=agent_id, model=model)
        if agent_id in PER_SEGMENT:
            for segment in range(production.segments):
                tokens = production.segment_tokens
                if agent_id == "a06_sequential_generator":
                    # Each segment is written with the plan and the previous segment in context.
                    segment_prompt = int((prompt + tokens) * scenario.a06_prompt_factor)
                else:
                    segment_prompt = prompt + tokens
                await api_call(env, rng, agent_id, model, segment_prompt, tokens)
                env.log.debug("segment_completed", agent_id=agent_id, segment=segment + 1)
        else:
            await api_call(env, rng, agent_id, model, prompt, completion)
        if fail:
            raise InvalidOutputError(f"{agent_id} rejected the draft")
    env.log.info("agent_execution_completed", agent_id=agent_id, model=model)


async def run_pipeline(env: Env, number: int) -> bool:
    """One narrative from brief to output; True when it succeeded."""
    # One generator per pipeline: the draws do not depend on how pipelines interleave.
    rng = random.Random(f"{env.seed}:{env.scenario.name}:{number}")
    production = pick_production(rng)
    genre = rng.choice(GENRES)
    scenario = env.scenario
    failing_agent = None
    if rng.random() < scenario.pipeline_failure_probability or (
        scenario.pipeline_fail_every_nth and number % scenario.pipeline_fail_every_nth == 0
    ):
        failing_agent = rng.choice(scenario.failing_agents)
    log = env.log.bind(job_id=f"job_{env.seed}_{number:06d}")
    log.info("pipeline_started", production_type=production.name, genre=genre)
    agent_env = replace(env, log=log)
    try:
        async with env.collector.track_pipeline(production.name, genre):
            for agent_id in AGENT_IDS:
                model = AGENT_MODELS[agent_id]
                canary = scenario.canary_every and number % scenario.canary_every == 0
                if agent_id == CANARY_AGENT and canary:
                    model = CANARY_MODEL
                failing = agent_id == failing_agent
                await run_agent(agent_env, rng, agent_id, production, failing, model)
                if agent_id == "a07_coherence_validator":
                    for metric_type, score in quality_scores(rng, scenario).items():
                        env.collector.record_quality_score(production.name, metric_type, score)
    except (SimulatedAPIError, InvalidOutputError) as error:
        log.error(
            "pipeline_failed",
            production_type=production.name,
            genre=genre,
            error_type=type(error).__name__,
        )
        return False
    log.info("pipeline_completed", production_type=production.name, genre=genre)
    return True


def expose_series(collector: Any, scenario: Scenario) -> None:
    """Create at 0 the series of every pipeline, agent and API call the workload will run.

    A real pipeline runs for minutes, so Prometheus scrapes its series at 0 before it ends and
    ``rate()`` counts its outcome. Sixty times faster, the simulator's pipelines start and end
    between two scrapes: the first pipeline of each production type and genre (24 pairs) and
    the first call of each agent would appear already at 1, which ``rate()`` reads as no
    change, and for its first quarter of an hour a live demo would show part of its traffic
    (pipeline_failures: few of its failures). The trackers create their series when they are
    made, with the failure siblings at 0 (docs/instrumentation.md, "Series that exist before
    they move"); made here and never entered, they record nothing.
    """
    pairs = list(AGENT_MODELS.items())
    if scenario.canary_every:
        pairs.append((CANARY_AGENT, CANARY_MODEL))
    for production in PRODUCTIONS:
        for genre in GENRES:
            collector.track_pipeline(production.name, genre)
    for agent_id, model in pairs:
        collector.track_agent(agent_id, model)
        collector.track_api_call(model, agent_id)


#: How far one gap between arrivals may stray from the mean gap, as a share of it (see the
#: module's docstring): at 60 an hour, 30 to 90 seconds.
ARRIVAL_JITTER = 0.5


def arrival_gap(rng: random.Random, pipelines_per_hour: float) -> float:
    """Wall seconds until the next brief: the mean gap, jittered by up to ``ARRIVAL_JITTER``."""
    return 3600.0 / pipelines_per_hour * rng.uniform(1 - ARRIVAL_JITTER, 1 + ARRIVAL_JITTER)


async def arrivals(
    env: Env,
    pipelines_per_hour: float,
    max_concurrent: int,
    until: Callable[[], bool] = lambda: False,
) -> None:
    """Start pipelines steadily (``arrival_gap``, wall time) until ``until()`` says stop."""
    rng = random.Random(f"{env.seed}:arrivals")
    running: set[asyncio.Task[bool]] = set()
    for number in itertools.count(1):
        if until():
            break
        while len(running) >= max_concurrent:
            # The platform queues briefs beyond its concurrency; so does the simulation.
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            running = {t for t in running if not t.done()}
        task = asyncio.ensure_future(run_pipeline(env, number))
        running.add(task)
        task.add_done_callback(running.discard)
        # The gap is wall time (see the module's docstring): env.sleep takes simulated seconds.
        await env.sleep(arrival_gap(rng, pipelines_per_hour) * env.speed)
    if running:
        await asyncio.gather(*running, return_exceptions=True)
