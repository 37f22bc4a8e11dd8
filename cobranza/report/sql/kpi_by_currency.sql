-- KPI mart rows per currency (all segments and countries): open AR, auto-match rate, DSO per book.
select *
from marts.mart_collections_kpis
where segment = 'all' and country = 'all' and currency <> 'all'
order by currency
