-- The debtor-side agent over the 30 days up to the run date (marts.mart_agent_kpis, one row per build):
-- messages handled by the agent alone vs by a person, promises and plans taken and kept, disputes
-- opened, opt-outs confirmed, pay-link payments.
select *
from marts.mart_agent_kpis
where as_of_date <= $as_of
order by as_of_date desc
limit 1
