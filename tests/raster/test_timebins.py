"""Calendar time bins: anchoring, month and year boundaries, irregular acquisition dates, bad durations."""

import numpy as np
import pytest

from raster_worker.timebins import DurationError, Step, count_steps, make_bins, parse_duration


def t(*values: str) -> np.ndarray:
    return np.array(values, dtype="datetime64[s]")


def starts(bins) -> list[str]:
    return [str(s) for s in bins.starts]


@pytest.mark.parametrize("text, step", [("P1D", Step(1, "D")), ("p5d", Step(5, "D")), ("P1W", Step(1, "W")),
                                        ("P2W", Step(2, "W")), ("P1M", Step(1, "M")), ("P3M", Step(3, "M")),
                                        ("P1Y", Step(12, "M"))])
def test_parse_duration(text, step):
    assert parse_duration(text) == step


@pytest.mark.parametrize("text", ["PT1H", "P1M2D", "P0D", "weekly", "", "P-1D", "P1.5M", "1D"])
def test_bad_durations_are_refused(text):
    with pytest.raises(DurationError, match="resolution"):
        parse_duration(text)


def test_weeks_start_on_monday_and_cross_the_year():
    times = t("2024-12-29T23:59:59", "2024-12-30T00:00:00", "2025-01-01T12:00", "2025-01-05T23:00",
              "2025-01-06T00:00")
    bins = make_bins(times, times[0], times[-1], parse_duration("P1W"))
    assert starts(bins) == ["2024-12-23T00:00:00", "2024-12-30T00:00:00", "2025-01-06T00:00:00"]
    assert str(bins.ends[1]) == "2025-01-06T00:00:00"
    assert bins.members.tolist() == [0, 1, 1, 1, 2]


def test_fortnights_are_anchored_on_the_calendar_not_the_request():
    step = parse_duration("P2W")
    a = make_bins(t("2024-01-10"), t("2024-01-10")[0], t("2024-01-10")[0], step)
    b = make_bins(t("2024-01-10"), t("2024-01-03")[0], t("2024-01-20")[0], step)
    assert a.starts[0] in b.starts
    assert (a.ends[0] - a.starts[0]) == np.timedelta64(14, "D")
    assert a.starts[0].astype("datetime64[D]").item().weekday() == 0


def test_months_across_month_year_and_leap_day():
    times = t("2023-11-30T23:59:59", "2023-12-31T23:59:59", "2024-01-01T00:00:00", "2024-02-29T12:00",
              "2024-03-01T00:00")
    bins = make_bins(times, times[0], times[-1], parse_duration("P1M"))
    assert starts(bins) == ["2023-11-01T00:00:00", "2023-12-01T00:00:00", "2024-01-01T00:00:00",
                            "2024-02-01T00:00:00", "2024-03-01T00:00:00"]
    assert str(bins.ends[3]) == "2024-03-01T00:00:00"
    assert bins.members.tolist() == [0, 1, 2, 3, 4]


def test_quarters_and_years():
    times = t("2023-03-31T23:00", "2023-04-01", "2023-12-31", "2024-01-01")
    quarters = make_bins(times, times[0], times[-1], parse_duration("P3M"))
    assert starts(quarters)[:2] == ["2023-01-01T00:00:00", "2023-04-01T00:00:00"]
    assert quarters.members.tolist() == [0, 1, 3, 4]
    years = make_bins(times, times[0], times[-1], parse_duration("P1Y"))
    assert starts(years) == ["2023-01-01T00:00:00", "2024-01-01T00:00:00"]
    assert years.members.tolist() == [0, 0, 0, 1]


def test_irregular_dates_leave_empty_steps_in_place():
    times = t("2024-01-02T10:00", "2024-01-02T10:05", "2024-01-20", "2024-03-05")
    bins = make_bins(times, times[0], times[-1], parse_duration("P1W"))
    counts = np.bincount(bins.members, minlength=len(bins))
    assert len(bins) == 10  # weeks of 2024-01-01 .. 2024-03-04
    assert counts.tolist() == [2, 0, 1, 0, 0, 0, 0, 0, 0, 1]


def test_days_in_utc_and_multi_day_steps():
    times = t("2024-01-01T00:00", "2024-01-01T23:59:59", "2024-01-02T00:00", "2024-01-06")
    days = make_bins(times, times[0], times[-1], parse_duration("P1D"))
    assert days.members.tolist() == [0, 0, 1, 5]
    five = make_bins(times, times[0], times[-1], parse_duration("P5D"))
    assert all(int(s.astype("datetime64[D]").astype(int)) % 5 == 0 for s in five.starts)


def test_range_excludes_times_outside_it_and_counts_steps():
    times = t("2024-01-01", "2024-02-15", "2024-05-01")
    bins = make_bins(times, t("2024-02-01")[0], t("2024-03-31")[0], parse_duration("P1M"))
    assert starts(bins) == ["2024-02-01T00:00:00", "2024-03-01T00:00:00"]
    assert bins.members.tolist() == [-1, 0, -1]
    assert count_steps(t("2020-01-01")[0], t("2024-12-31")[0], parse_duration("P1D")) == 1827


def test_no_step_is_one_bin_over_the_range():
    times = t("2024-01-01", "2024-02-15", "2024-05-01")
    bins = make_bins(times, times[0], times[1], None)
    assert len(bins) == 1 and bins.members.tolist() == [0, 0, -1]
