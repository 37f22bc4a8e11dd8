-- Bank credits of the KPI window that cash application could not match automatically, by currency:
-- what a person still has to apply by hand (marts.fct_payments).
select
    currency,
    count(*) as n_credits,
    count(*) filter (where match_method in ('unmatched', 'manual')) as n_unmatched,
    sum(amount) as amount,
    sum(case when match_method in ('unmatched', 'manual') then amount else 0 end) as amount_unmatched
from marts.fct_payments
where booking_date > cast($as_of as date) - $window_days and booking_date <= $as_of
group by currency
order by currency
