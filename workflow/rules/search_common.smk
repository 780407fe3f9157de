# Helpers of rules/search.smk (hyperparameter searches): the search's state from its round records.
import re

from cifarflow.config import final_search_variant, search_variant
from cifarflow.errors import CifarflowError
from cifarflow.training import search as S
from cifarflow.training.search_job import check_round_against_histories, read_round_scores

SEARCH_DIR = "results/search/{sset}/{search}"
SEARCH_SUMMARY = ["results/search/summary.md"] if SEARCHES else []
# The settings every trial shares (threads, memory, runtime, group); searched keys aside.
SEARCH_BASE = {
    s: search_variant(config, s, b, S.trials_for_round(s, b, 1, {})[0].settings, f"{s}-{b['name']}")
    for s, b in SEARCHES.items()
}


_TRIALS = {}


def round_trials(sset, r, scores):
    """`S.trials_for_round` of the set's search, computed once per round and scores: Snakemake calls
    the input and params functions of every trial job, and a round of up to S.MAX_N trials would
    otherwise be drawn again for each of them."""
    key = (sset, r, tuple(sorted(scores.items())))
    if key not in _TRIALS:
        _TRIALS[key] = S.trials_for_round(sset, SEARCHES[sset], r, scores)
    return _TRIALS[key]


_KEEPS = {}


def round_keeps(sset, trials):
    """Trial name -> the epoch its run keeps (`S.keep_rule` of its resolved variant: last, val_acc
    or val_loss), which the round ranks it by; cached per trial as `round_trials`."""
    out = {}
    for t in trials:
        key = (sset, t.name, canonical_json(t.settings))
        if key not in _KEEPS:
            _KEEPS[key] = S.keep_rule(search_variant(config, sset, SEARCHES[sset], t.settings, t.name))
        out[t.name] = _KEEPS[key]
    return out


def _search_constraints():
    return {
        "sset": _alternatives(SEARCHES),
        "search": _alternatives({b["name"] for b in SEARCHES.values()}),
        "trial": r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
        "k": r"[1-9][0-9]*",
        "digest": r"[0-9a-f]{10}",
        "seed": r"[0-9]+",
    }


def search_of(wildcards):
    search = SEARCHES[wildcards.sset]
    if search["name"] != wildcards.search:
        raise ValueError(f"set {wildcards.sset} has the search {search['name']}, not {wildcards.search}")
    return search


def search_scored(sset, upto):
    """Validation scores of rounds 1..upto and their record files; a missing record leaves the
    caller pending until its checkpoint has run (Snakemake then evaluates the DAG again)."""
    search = SEARCHES[sset]
    scores, files = {}, []
    for r in range(1, upto + 1):
        trials = round_trials(sset, r, scores)
        keeps = round_keeps(sset, trials)
        f = checkpoints.search_round.get(
            sset=sset, search=search["name"], k=str(r), digest=S.round_digest(trials, keeps)
        ).output[0]
        files.append(f)
        try:  # read while the DAG is built: a damaged record is one error line naming it
            round_scores = read_round_scores(f, trials)
            # and it must agree with the trials' own histories (an edited score would steer the search)
            check_round_against_histories(f, round_scores, trial_histories(sset, trials, OUTPUT_FOLDERS[0]), keeps)
            scores.update(round_scores)
        except CifarflowError as exc:
            sys.exit(f"cifarflow: error: {exc}")
    return scores, files


def _trial_round(sset, trial):
    """The round of a trial, from its name: a re-evaluation trial (`<candidate>-s<seed>`) is in the
    last round; grid trials in round 1; others' names end in r<round>-t<index>."""
    search = SEARCHES[sset]
    if search["reevaluate"] and re.search(r"-s[0-9]+$", trial):
        return S.n_rounds(search)
    if search["method"] == "grid":
        return 1
    m = re.search(r"-r([0-9]+)-t[0-9]+$", trial)
    if not m:
        raise ValueError(f"{trial} is not a trial name of search {sset}")
    return int(m.group(1))


def search_trial(wildcards):
    """(the trial's resolved variant, the record files of the rounds before it)."""
    search = search_of(wildcards)
    k = _trial_round(wildcards.sset, wildcards.trial)
    scores, files = search_scored(wildcards.sset, k - 1)
    for t in round_trials(wildcards.sset, k, scores):
        if t.name == wildcards.trial:
            return search_variant(config, wildcards.sset, search, t.settings, t.name), files
    raise ValueError(f"{wildcards.trial} is not a trial of search {wildcards.sset}/{wildcards.search}")


def search_final(wildcards):
    """(the final run's resolved variant: the chosen setting with seed `seed`, every round's record)."""
    search = search_of(wildcards)
    seed = int(wildcards.seed)
    if seed not in search["final"]["seeds"]:
        raise ValueError(f"seed {seed} is not a final seed of search {wildcards.sset}/{wildcards.search}")
    scores, files = search_scored(wildcards.sset, S.n_rounds(search))
    chosen = S.choose(wildcards.sset, search, scores)
    return final_search_variant(config, wildcards.sset, search, chosen.settings, seed), files


def _run_inputs(v, rounds):
    plan = plan_id(plan_spec(v, config))
    if plan not in PLANS:
        raise ValueError(f"search run {v['name']}: its epoch plan {plan} was not listed by search_plans")
    return {"split": f"results/data/split_{v['split']}.h5", "plan": f"results/plans/{plan}.h5", "rounds": rounds}


def _variant_json(v):
    return canonical_json({k: x for k, x in v.items() if k not in ("plan_id", "group")})


def search_round_inputs(wildcards):
    search = search_of(wildcards)
    k = int(wildcards.k)
    scores, files = search_scored(wildcards.sset, k - 1)
    trials = round_trials(wildcards.sset, k, scores)
    if S.round_digest(trials, round_keeps(wildcards.sset, trials)) != wildcards.digest:
        raise ValueError(f"round {k} of {wildcards.sset}/{wildcards.search}: {wildcards.digest} is not its digest")
    base = f"results/search/{wildcards.sset}/{wildcards.search}/trials"
    return {"prev": files, "histories": [f"{base}/{t.name}/history.csv" for t in trials]}


def search_round_trials(wildcards, input):
    """The round's trials as JSON, each with its keep rule; a re-evaluation trial also names its
    candidate, the candidate's own score and the confidence of the comparison."""
    k = int(wildcards.k)
    scores, _ = search_scored(wildcards.sset, k - 1)
    search = search_of(wildcards)  # the wildcards name the set's own search
    trials = round_trials(wildcards.sset, k, scores)
    keeps = round_keeps(wildcards.sset, trials)
    out = [{**t.to_json(), "keep": keeps[t.name]} for t in trials]
    if k == S.reevaluation_round(search):
        for t in out:
            cand = t["name"].rsplit("-s", 1)[0]
            t.update(candidate=cand, candidate_val_acc=scores[cand], confidence=search["reevaluate"]["confidence"])
    return canonical_json(out)


def search_report_inputs(wildcards):
    search = search_of(wildcards)
    base = f"results/search/{wildcards.sset}/{wildcards.search}/final"
    rounds = search_scored(wildcards.sset, S.n_rounds(search))[1]
    return rounds + [f"{base}/seed{s}/metrics.json" for s in search["final"]["seeds"]]


def trial_histories(sset, trials, results="results"):
    """Trial name -> its history.csv (under `results`, the folder as a module prefix moves it)."""
    base = f"{results}/search/{sset}/{SEARCHES[sset]['name']}/trials"
    return {t.name: f"{base}/{t.name}/history.csv" for t in trials}


def search_rounds(wildcards):
    """Every round's record of every search, and every trial's history: `all` lists them (each
    record from its checkpoint), as an existing report would not notice by itself that the config
    asks for one more round, nor that a trial's folder was deleted (it is trained again, and its
    round scored again)."""
    out = []
    for s, b in SEARCHES.items():
        scores, files = search_scored(s, S.n_rounds(b))
        out += files
        done = {}
        for r in range(1, S.n_rounds(b) + 1):
            trials = round_trials(s, r, done)
            out += list(trial_histories(s, trials).values())
            done.update({t.name: scores.get(t.name) for t in trials})
    return out


def search_round_files(wildcards, input):
    """The round records among a report's inputs (while a round is pending, Snakemake holds its
    checkpoint's file there, so they are taken from `input` as given)."""
    return [f for f in input if re.search(r"round[0-9]+-[0-9a-f]{10}[.]json$", f)]


def search_final_files(wildcards, input):
    return [f for f in input if os.path.basename(f) == "metrics.json"]


def search_outputs():
    """What `all` asks of the searches: each search's report and the searches' summary."""
    out = [f"results/search/{s}/{b['name']}/summary.md" for s, b in SEARCHES.items()]
    return out + SEARCH_SUMMARY
